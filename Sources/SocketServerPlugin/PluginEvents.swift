// Event-driven plugin handlers (plugin ABI 1.1): the class a Swift plugin's handler subclasses,
// one instance per connection, and the output its replies are appended to.
#if canImport(Glibc)
import Glibc
#endif
import CSocketServerPlugin

/// Where an event handler's reply goes: each `write` appends straight to the connection's send
/// buffer in the daemon (one copy, no buffer in between), sent after the callback returns.
/// Valid only during the call it is passed to.
public struct PluginOutput {
    let sink: UnsafeMutablePointer<ssd_output>

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard !bytes.isEmpty else { return }
        guard let append = sink.pointee.append, append(sink, bytes.baseAddress, bytes.count) == 0 else {
            throw PluginIOError(call: "append", code: errno)
        }
    }

    public func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }

    /// Writes UTF-8 text.
    public func write(_ text: String) throws {
        var text = text
        try text.withUTF8 { try write(UnsafeRawBufferPointer($0)) }
    }
}

/// A stream connection served event by event: the daemon calls `connected` when it opens,
/// `received` with each chunk the client sends, `closed` when it is over. Never block in them:
/// under `concurrency = events` one thread runs every connection of the worker. Reply by writing
/// to `output`; return false to end the connection once the reply is sent. A thrown error fails
/// the connection (logged; what is pending is dropped). State that belongs to one connection goes
/// in the instance's own properties.
///
/// Under sync, threads and fork the daemon's blocking adapter runs the same methods (one
/// connection per instance, several instances at once under threads).
open class PluginEventHandler: PluginHandlerBase {
    public required override init(_ call: PluginCall) { super.init(call) }

    /// What the server says first. The default says nothing and goes on.
    open func connected(output: PluginOutput) throws -> Bool { true }

    /// `bytes` (never empty) is valid only during the call. The default drops them and goes on.
    open func received(_ bytes: UnsafeRawBufferPointer, output: PluginOutput) throws -> Bool { true }

    /// The connection is over (whatever ended it); the instance is released afterwards.
    open func closed() {}
}

/// The `ssd_events` every Swift event handler's table entry points to; the handler's class comes
/// from `ssd_request.handler_data`, the connection's instance from the state pointer.
/// Written once (a global's lazy initialiser), read-only afterwards.
nonisolated(unsafe) let eventTrampolines: UnsafePointer<ssd_events> = {
    let table = UnsafeMutablePointer<ssd_events>.allocate(capacity: 1)
    table.initialize(to: ssd_events(open: openTrampoline, data: dataTrampoline, close: closeTrampoline))
    return UnsafePointer(table)
}()

/// SSD_OK or SSD_END as `body` says; a thrown error is logged and fails the connection.
private func status(_ handler: PluginEventHandler, _ body: () throws -> Bool) -> Int32 {
    do {
        return try body() ? SSD_OK : SSD_END
    } catch {
        handler.log(.error, "\(error)")
        return SSD_FAILED
    }
}

private let openTrampoline: ssd_open_fn = { request, state, output in
    guard let request, let state, let output,
          let type = HandlerBox.from(request.pointee.handler_data)?.entry.events else { return SSD_FAILED }
    let handler = type.init(PluginCall(request: request))
    state.pointee = Unmanaged.passRetained(handler).toOpaque()
    return status(handler) { try handler.connected(output: PluginOutput(sink: output)) }
}

private let dataTrampoline: ssd_data_fn = { request, state, bytes, length, output in
    guard let instance = state?.pointee, let output else { return SSD_FAILED }
    let handler = Unmanaged<PluginEventHandler>.fromOpaque(instance).takeUnretainedValue()
    return status(handler) { try handler.received(UnsafeRawBufferPointer(start: bytes, count: length), output: PluginOutput(sink: output)) }
}

private let closeTrampoline: ssd_close_fn = { _, state in
    guard let state else { return }
    Unmanaged<PluginEventHandler>.fromOpaque(state).takeRetainedValue().closed()
}
