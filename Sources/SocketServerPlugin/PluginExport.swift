// Registration: from Swift handler classes to the C table the daemon reads, and the C callbacks
// that create one handler instance per request.
#if canImport(Glibc)
import Glibc
#endif
import CSocketServerPlugin
import Synchronization

/// One handler a plugin offers: a name and the classes serving streams, datagrams, and
/// connections event by event (any of them, at least one).
public struct PluginHandlerEntry: Sendable {
    let name: String
    let stream: PluginStreamHandler.Type?
    let datagram: PluginDatagramHandler.Type?
    let events: PluginEventHandler.Type?

    /// A handler for stream listeners (tcp://, unix:).
    public static func stream(_ name: String, _ type: PluginStreamHandler.Type) -> PluginHandlerEntry {
        PluginHandlerEntry(name: name, stream: type, datagram: nil, events: nil)
    }

    /// A handler for datagram listeners (udp://, unixgram:).
    public static func datagram(_ name: String, _ type: PluginDatagramHandler.Type) -> PluginHandlerEntry {
        PluginHandlerEntry(name: name, stream: nil, datagram: type, events: nil)
    }

    /// An event-driven handler for stream listeners: serves `concurrency = events`, and sync,
    /// threads and fork through the daemon's blocking adapter.
    public static func events(_ name: String, _ type: PluginEventHandler.Type) -> PluginHandlerEntry {
        PluginHandlerEntry(name: name, stream: nil, datagram: nil, events: type)
    }

    /// A handler with several variants; its keys are those of all its classes. With both `stream`
    /// and `events`, `events` serves `concurrency = events` and `stream` the others.
    public static func handler(_ name: String, stream: PluginStreamHandler.Type? = nil,
                               datagram: PluginDatagramHandler.Type? = nil,
                               events: PluginEventHandler.Type? = nil) -> PluginHandlerEntry {
        PluginHandlerEntry(name: name, stream: stream, datagram: datagram, events: events)
    }

    private var classes: [PluginHandlerBase.Type] {
        [stream as PluginHandlerBase.Type?, datagram, events].compactMap { $0 }
    }

    /// Stream keys first, then datagram and event keys not already declared.
    var keys: [PluginKey] {
        var result: [PluginKey] = []
        for key in classes.flatMap({ $0.keys }) where !result.contains(where: { $0.name == key.name }) { result.append(key) }
        return result
    }

    func validate(key: String, value: String) -> String? {
        classes.lazy.compactMap { $0.validate(key: key, value: value) }.first
    }
}

/// The table handed to the daemon, built once per process and never freed (the daemon never
/// unloads a plugin).
private let exported = Mutex<UnsafeRawPointer?>(nil)

/// Builds the plugin's C description. Return it from the entry symbol:
///
///     @_cdecl("socketserverd_plugin_entry")
///     public func entry() -> UnsafeRawPointer { exportPlugin("greet", [.stream("hello", Hello.self)]) }
public func exportPlugin(_ name: String, _ handlers: [PluginHandlerEntry]) -> UnsafeRawPointer {
    exported.withLock { table in
        if let table { return table }
        let entries = UnsafeMutablePointer<ssd_handler>.allocate(capacity: max(1, handlers.count))
        for (index, handler) in handlers.enumerated() {
            let keys = handler.keys
            let cKeys = UnsafeMutablePointer<ssd_key>.allocate(capacity: max(1, keys.count))
            for (keyIndex, key) in keys.enumerated() {
                cKeys[keyIndex] = ssd_key(name: strdup(key.name), default_value: key.defaultValue.map { strdup($0) })
            }
            let data = Unmanaged.passRetained(HandlerBox(handler)).toOpaque()
            entries[index] = ssd_handler(
                name: strdup(handler.name), keys: cKeys, key_count: keys.count, validate: validateTrampoline,
                stream: handler.stream == nil ? nil : streamTrampoline,
                datagram: handler.datagram == nil ? nil : datagramTrampoline, data: data,
                events: handler.events == nil ? nil : eventTrampolines)
        }
        let plugin = UnsafeMutablePointer<ssd_plugin>.allocate(capacity: 1)
        // SSD_PLUGIN_ABI_VERSION, which Swift cannot import (a function-like macro).
        let version = UInt32(SSD_PLUGIN_ABI_MAJOR) | UInt32(SSD_PLUGIN_ABI_MINOR) << 16
        plugin.initialize(to: ssd_plugin(abi_version: version, name: strdup(name),
                                         handlers: entries, handler_count: handlers.count))
        table = UnsafeRawPointer(plugin)
        return UnsafeRawPointer(plugin)
    }
}

/// What `ssd_handler.data` points to.
final class HandlerBox {
    let entry: PluginHandlerEntry
    init(_ entry: PluginHandlerEntry) { self.entry = entry }

    static func from(_ data: UnsafeMutableRawPointer?) -> HandlerBox? {
        data.map { Unmanaged<HandlerBox>.fromOpaque($0).takeUnretainedValue() }
    }
}

/// Runs a handler instance; a thrown error is logged through the daemon and fails the request.
private func serve(_ request: UnsafePointer<ssd_request>, _ make: () -> PluginRequestHandler?) -> Int32 {
    guard let handler = make() else { return 1 }
    do {
        try handler.runSteps()
        return SSD_OK
    } catch {
        handler.log(.error, "\(error)")
        return 1
    }
}

private let streamTrampoline: ssd_stream_fn = { request, fd in
    guard let request, let type = HandlerBox.from(request.pointee.handler_data)?.entry.stream else { return 1 }
    return serve(request) { type.init(PluginCall(request: request), fd: fd) }
}

private let datagramTrampoline: ssd_datagram_fn = { request, bytes, length in
    guard let request, let type = HandlerBox.from(request.pointee.handler_data)?.entry.datagram else { return 1 }
    let packet = bytes.map { Array(UnsafeRawBufferPointer(start: $0, count: length)) } ?? []
    return serve(request) { type.init(PluginCall(request: request), packet: packet) }
}

private let validateTrampoline: ssd_validate_fn = { data, key, value, message, size in
    guard let box = HandlerBox.from(data), let key, let value else { return 0 }
    guard let problem = box.entry.validate(key: String(cString: key), value: String(cString: value)) else { return 0 }
    if let message, size > 0 {
        let bytes = Array(problem.utf8.prefix(size - 1))
        for (index, byte) in bytes.enumerated() { message[index] = CChar(bitPattern: byte) }
        message[bytes.count] = 0
    }
    return 1
}
