// One handler of a loaded plugin: its table entry read and checked, as a HandlerDescriptor.
#if canImport(Glibc)
import Glibc
#endif
import CSocketServerPlugin
import SocketServerHandlers

/// A handler from a plugin's table. The table lives in the plugin's static storage, which stays
/// mapped for the life of the process.
struct PluginHandler: @unchecked Sendable {
    static let maximumHandlers = 1024
    static let maximumKeys = 256
    static let messageSize = 512

    let name: String
    /// Declared keys in table order, with their defaults (nil: required).
    let keys: [(name: String, defaultValue: String?)]
    let entry: PluginTableEntry
    /// The event-driven callbacks (ABI 1.1), nil without them.
    let events: ssd_events?

    /// Whether a stream listener can be served: by the blocking callback, or by the event
    /// callbacks through the blocking adapter.
    var servesStreams: Bool { entry.stream != nil || events != nil }
    var servesDatagrams: Bool { entry.datagram != nil }

    /// Reads and checks every handler of `plugin`, built for `version`.
    static func table(_ plugin: ssd_plugin, version: PluginABIVersion, path: String) -> Result<[PluginHandler], PluginFault> {
        let count = plugin.handler_count
        guard count > 0, let base = plugin.handlers else {
            return .failure(PluginFault("\(path) declares no handlers"))
        }
        guard count <= maximumHandlers else {
            return .failure(PluginFault("\(path) declares \(count) handlers, more than the limit of \(maximumHandlers)"))
        }
        var handlers: [PluginHandler] = []
        for index in 0..<count {
            switch read(PluginTableEntry(table: UnsafeRawPointer(base), index: index, version: version), index: index, path: path) {
            case .success(let handler):
                if handlers.contains(where: { $0.name == handler.name }) {
                    return .failure(PluginFault("\(path) declares handler '\(handler.name)' twice"))
                }
                handlers.append(handler)
            case .failure(let fault):
                return .failure(fault)
            }
        }
        return .success(handlers)
    }

    private static func read(_ handler: PluginTableEntry, index: Int, path: String) -> Result<PluginHandler, PluginFault> {
        guard let rawName = handler.name, PluginSection.isValidName(String(cString: rawName)) else {
            return .failure(PluginFault("\(path): handler #\(index + 1) has no valid name (letters, digits, '_', '-')"))
        }
        let name = String(cString: rawName)
        let events = handler.events?.pointee
        if let events, events.data == nil {
            return .failure(PluginFault("\(path): handler '\(name)' has event callbacks without a data callback"))
        }
        guard handler.stream != nil || handler.datagram != nil || events != nil else {
            return .failure(PluginFault("\(path): handler '\(name)' has neither a stream, a datagram nor event callbacks"))
        }
        guard handler.keyCount <= maximumKeys, handler.keyCount == 0 || handler.keys != nil else {
            return .failure(PluginFault("\(path): handler '\(name)' has a bad key table (\(handler.keyCount) keys)"))
        }
        let reserved = Set(ServiceKeys.names + ["include"])
        var keys: [(name: String, defaultValue: String?)] = []
        for keyIndex in 0..<handler.keyCount {
            let key = handler.keys![keyIndex]
            guard let rawKey = key.name, PluginSection.isValidName(String(cString: rawKey)) else {
                return .failure(PluginFault("\(path): handler '\(name)': key #\(keyIndex + 1) has no valid name"))
            }
            let keyName = String(cString: rawKey)
            if reserved.contains(keyName) {
                return .failure(PluginFault("\(path): handler '\(name)' declares the key '\(keyName)', "
                    + "which is one of the daemon's own service keys"))
            }
            if keys.contains(where: { $0.name == keyName }) {
                return .failure(PluginFault("\(path): handler '\(name)' declares the key '\(keyName)' twice"))
            }
            keys.append((keyName, key.default_value.map { String(cString: $0) }))
        }
        return .success(PluginHandler(name: name, keys: keys, entry: handler, events: events))
    }

    /// The plugin's verdict on each declared key's value (keys missing from `options` are skipped).
    func validate(_ options: [String: String]) -> [(key: String, problem: String)] {
        guard let check = entry.validate else { return [] }
        var problems: [(key: String, problem: String)] = []
        var message = [CChar](repeating: 0, count: PluginHandler.messageSize)
        for (key, _) in keys {
            guard let value = options[key] else { continue }
            message[0] = 0
            let status = message.withUnsafeMutableBufferPointer { buffer in
                check(entry.data, key, value, buffer.baseAddress, buffer.count)
            }
            guard status != 0 else { continue }
            message[message.count - 1] = 0
            let reason = PluginText.clean(message.withUnsafeBufferPointer { String(cString: $0.baseAddress!) })
            problems.append((key, (reason.isEmpty ? "value \(ConfigText.quoted(value)) is not accepted" : reason)
                + " (rejected by plugin handler '\(name)')"))
        }
        return problems
    }

    /// The descriptor the config loader checks services against (named by the handler's own name).
    func descriptor() -> HandlerDescriptor {
        var declared: [String: String?] = [:]
        for (key, defaultValue) in keys { declared[key] = .some(defaultValue) }
        return HandlerDescriptor(
            name: name, stream: entry.stream != nil ? PluginStreamBridge.self : events != nil ? PluginEventAdapter.self : nil,
            datagram: servesDatagrams ? PluginDatagramBridge.self : nil,
            events: events != nil ? PluginEventBridge.self : nil,
            keys: declared, validate: { self.validate($0) })
    }

    /// Every declared key's value for a service: as written, or the default; nil values are
    /// required keys the service lacks.
    func effectiveOptions(_ written: [String: String]) -> (options: [String: String], missing: [String], undeclared: [String]) {
        var options: [String: String] = [:]
        var missing: [String] = []
        for (key, defaultValue) in keys {
            if let value = written[key] ?? defaultValue { options[key] = value } else { missing.append(key) }
        }
        let undeclared = written.keys.filter { key in !keys.contains { $0.name == key } }.sorted()
        return (options, missing, undeclared)
    }
}

/// The loader that opens plugins in this process: for --check-config's child, a reload's checking
/// child, and the daemon's tests. `progress` hears when plugin code is about to run (`loading`,
/// `validating`) and when it returned, so that a plugin that crashes its process can be named.
struct DynamicPluginLoader: PluginLoader {
    typealias Progress = @Sendable (_ plugin: PluginConfig, _ activity: String?) -> Void
    var progress: Progress? = nil

    func load(_ plugin: PluginConfig) -> PluginLoadResult {
        progress?(plugin, "loading")
        defer { progress?(plugin, nil) }
        switch PluginLibrary.load(path: plugin.path) {
        case .success(let library):
            return .loaded(library.handlers.map { handler in
                let descriptor = handler.descriptor()
                guard let progress else { return descriptor }
                return HandlerDescriptor(name: descriptor.name, stream: descriptor.stream, datagram: descriptor.datagram,
                                         events: descriptor.events, keys: descriptor.keys, validate: { options in
                    progress(plugin, "validating keys for handler '\(handler.name)'")
                    defer { progress(plugin, nil) }
                    return descriptor.validate(options)
                })
            })
        case .failure(let fault):
            return .failed("plugin \(ConfigText.quoted(plugin.name)): \(fault)")
        }
    }
}
