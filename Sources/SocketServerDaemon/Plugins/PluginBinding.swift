// A plugin handler bound to a service in a worker: its options as C strings, found by service name.
#if canImport(Glibc)
import Glibc
#endif
import CSocketServerPlugin
import SocketServer
import SocketServerHandlers

/// What a request of one service needs to call its plugin handler. Created once per worker;
/// the C strings it holds live as long as the process.
final class PluginBinding: Sendable {
    let handler: PluginHandler
    let serviceName: String
    /// `PLUGIN.HANDLER`, as the service names it.
    let handlerName: String
    nonisolated(unsafe) let cService: UnsafeMutablePointer<CChar>
    nonisolated(unsafe) let cHandler: UnsafeMutablePointer<CChar>
    /// Every declared key's value (written or default), as C strings.
    nonisolated(unsafe) private let values: [String: UnsafeMutablePointer<CChar>]

    init(handler: PluginHandler, serviceName: String, handlerName: String, options: [String: String]) {
        self.handler = handler
        self.serviceName = serviceName
        self.handlerName = handlerName
        cService = strdup(serviceName)
        cHandler = strdup(handlerName)
        values = options.mapValues { strdup($0) }
    }

    /// The value of a declared key, or nil.
    func value(_ key: String) -> UnsafePointer<CChar>? { values[key].map { UnsafePointer($0) } }

    /// Services bound in this process, by name. Written only while a worker starts, before it
    /// serves (and before it starts threads or forks), read-only afterwards: no lock is needed,
    /// and none may be used: a request served in a forked child must not touch a Mutex.
    nonisolated(unsafe) private static var bound: [String: PluginBinding] = [:]

    /// Binds a service's handler; call before serving starts.
    static func bind(_ binding: PluginBinding) {
        bound[binding.serviceName] = binding
    }

    static func binding(for service: String) -> PluginBinding? {
        bound[service]
    }

    /// Calls `body` with an `ssd_request` for one request from `client`; `socket` is where a
    /// datagram handler's replies go (nil for streams).
    func call(client: SocketAddress, replyingOn socket: Socket?, _ body: (UnsafePointer<ssd_request>) -> Int32) -> Int32 {
        let context = PluginCall(binding: self, client: client, socket: socket)
        return withExtendedLifetime(context) {
            PluginCall.clientText(client).withCString { cClient in
                var request = self.request(client: cClient, context: context)
                return body(&request)
            }
        }
    }

    /// The `ssd_request` of one request (or connection) whose callbacks reach `context`.
    func request(client: UnsafePointer<CChar>, context: PluginCall) -> ssd_request {
        ssd_request(
            service: cService, handler: cHandler, client: client, handler_data: handler.entry.data,
            config: pluginConfigCallback, log: pluginLogCallback,
            reply: context.socket == nil ? nil : pluginReplyCallback,
            daemon: Unmanaged.passUnretained(context).toOpaque())
    }
}

/// One request in flight: what the C callbacks reach through `ssd_request.daemon`.
final class PluginCall {
    let binding: PluginBinding
    let client: SocketAddress
    let socket: Socket?

    init(binding: PluginBinding, client: SocketAddress, socket: Socket?) {
        self.binding = binding
        self.client = client
        self.socket = socket
    }

    /// The client as `ssd_request.client` shows it ("" for an unnamed Unix peer).
    static func clientText(_ client: SocketAddress) -> String {
        if case .unix(let path) = client, path.isEmpty { return "" }
        return client.description
    }

    static func from(_ request: UnsafePointer<ssd_request>?) -> PluginCall? {
        guard let daemon = request?.pointee.daemon else { return nil }
        return Unmanaged<PluginCall>.fromOpaque(daemon).takeUnretainedValue()
    }
}

private let pluginConfigCallback: @convention(c) (UnsafePointer<ssd_request>?, UnsafePointer<CChar>?) -> UnsafePointer<CChar>? = {
    request, key in
    guard let call = PluginCall.from(request), let key else { return nil }
    return call.binding.value(String(cString: key))
}

private let pluginLogCallback: @convention(c) (UnsafePointer<ssd_request>?, Int32, UnsafePointer<CChar>?) -> Void = {
    request, level, message in
    guard let call = PluginCall.from(request), let message else { return }
    let logLevel: LogLevel
    switch level {
    case SSD_LOG_DEBUG: logLevel = .debug
    case SSD_LOG_INFO: logLevel = .info
    case SSD_LOG_WARNING: logLevel = .warning
    default: logLevel = .error
    }
    guard Logger.shared.enabled(logLevel) else { return }
    Logger.shared.log(logLevel, "service \(call.binding.serviceName): \(call.binding.handlerName): \(call.client): "
        + PluginText.clean(String(cString: message)))
}

private let pluginReplyCallback: @convention(c) (UnsafePointer<ssd_request>?, UnsafeRawPointer?, Int) -> Int32 = {
    request, bytes, length in
    guard let call = PluginCall.from(request), let socket = call.socket else {
        errno = EINVAL
        return -1
    }
    if case .unix(let path) = call.client, path.isEmpty {
        errno = EDESTADDRREQ  // an unbound Unix datagram client cannot be answered
        return -1
    }
    let data = length == 0 || bytes == nil ? [] : Array(UnsafeRawBufferPointer(start: bytes, count: length))
    do {
        _ = try socket.sendTo(data, call.client)
        return 0
    } catch let error as SocketError {
        Glibc.errno = error.errno ?? EIO
        return -1
    } catch {
        Glibc.errno = EIO
        return -1
    }
}
