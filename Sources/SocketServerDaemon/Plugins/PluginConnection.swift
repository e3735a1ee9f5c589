// One connection served by a plugin's event callbacks (ABI 1.1): its request, alive from `open` to
// `close`, the plugin's state pointer, and the output the plugin appends to.
#if canImport(Glibc)
import Glibc
#endif
import CSocketServerPlugin
import SocketServer

/// Calls one connection's `open`, `data` and `close`. Used from one thread at a time: the event
/// loop's (`PluginEventBridge`) or the blocking adapter's (`PluginEventAdapter`).
final class PluginConnection {
    let binding: PluginBinding
    private let events: ssd_events
    private let context: PluginCall
    private let client: UnsafeMutablePointer<CChar>
    private let request: UnsafeMutablePointer<ssd_request>
    /// The plugin's own pointer for this connection (`void **state`).
    private var state: UnsafeMutableRawPointer? = nil
    private var opened = false
    private var closed = false

    init(binding: PluginBinding, client address: SocketAddress) throws {
        guard let events = binding.handler.events else {
            throw PluginCallError(description: "plugin handler \(binding.handlerName) has no event callbacks")
        }
        self.binding = binding
        self.events = events
        context = PluginCall(binding: binding, client: address, socket: nil)
        client = strdup(PluginCall.clientText(address))
        request = .allocate(capacity: 1)
        request.initialize(to: binding.request(client: client, context: context))
    }

    deinit {
        close()
        request.deallocate()
        free(client)
    }

    /// `open`: what the plugin says first goes to `output`; returns whether to go on reading.
    func open(_ output: inout [UInt8]) throws -> Bool {
        opened = true
        guard let open = events.open else { return true }
        return try verdict(Self.appending(to: &output) { open(request, &state, $0) })
    }

    /// `data` with bytes the client sent; the reply goes to `output`. Returns whether to go on.
    func received(_ bytes: UnsafeRawBufferPointer, _ output: inout [UInt8]) throws -> Bool {
        guard !bytes.isEmpty else { return true }
        let data = events.data!  // PluginHandler refuses event callbacks without `data`
        return try verdict(Self.appending(to: &output) { data(request, &state, bytes.baseAddress, bytes.count, $0) })
    }

    /// `close`, once, if `open` was called.
    func close() {
        guard opened, !closed else { return }
        closed = true
        events.close?(request, state)
    }

    private func verdict(_ status: Int32) throws -> Bool {
        switch status {
        case SSD_OK: return true
        case SSD_END: return false
        default: throw PluginCallError(description: "plugin handler \(binding.handlerName) returned status \(status)")
        }
    }

    /// Runs `body` with an `ssd_output` whose `append` writes into `output` itself.
    private static func appending(to output: inout [UInt8], _ body: (UnsafeMutablePointer<ssd_output>) -> Int32) -> Int32 {
        withUnsafeMutablePointer(to: &output) { target in
            var sink = ssd_output(append: pluginAppendCallback, daemon: UnsafeMutableRawPointer(target))
            return body(&sink)
        }
    }
}

/// `ssd_output.append`: one copy, from the plugin's bytes into the connection's output array.
private let pluginAppendCallback: @convention(c) (UnsafeMutablePointer<ssd_output>?, UnsafeRawPointer?, Int) -> Int32 = {
    output, bytes, length in
    guard let target = output?.pointee.daemon?.assumingMemoryBound(to: [UInt8].self) else {
        errno = EINVAL
        return -1
    }
    guard length > 0 else { return 0 }
    guard let bytes, length <= Int.max / 2 else {
        errno = EINVAL
        return -1
    }
    target.pointee.append(contentsOf: UnsafeRawBufferPointer(start: bytes, count: length))
    return 0
}
