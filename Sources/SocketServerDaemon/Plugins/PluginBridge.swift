// The request handlers that hand a connection or a datagram to a plugin's C callback.
#if canImport(Glibc)
import Glibc
#endif
import CSocketServerPlugin
import SocketServer
import SocketServerHandlers

/// A plugin callback that failed: logged by the service like any handler error.
struct PluginCallError: Error, CustomStringConvertible {
    let description: String
}

extension BaseRequestHandler {
    /// The binding of the service this request belongs to.
    func pluginBinding() throws -> PluginBinding {
        guard let host, let binding = PluginBinding.binding(for: host.serviceName) else {
            throw PluginCallError(description: "no plugin handler is bound to this service in worker \(getpid())")
        }
        return binding
    }

    func check(_ status: Int32, _ binding: PluginBinding) throws {
        guard status != SSD_OK else { return }
        throw PluginCallError(description: "plugin handler \(binding.handlerName) returned status \(status)")
    }
}

/// Streams: the plugin gets the connected socket as a plain blocking fd, whose timeout becomes
/// the kernel's (SO_RCVTIMEO, SO_SNDTIMEO: the socket's idle timeout).
final class PluginStreamBridge: BaseRequestHandler {
    override func handle() throws {
        let binding = try pluginBinding()
        guard let stream = binding.handler.entry.stream else {
            throw PluginCallError(description: "plugin handler \(binding.handlerName) cannot serve streams")
        }
        // C code expects a blocking socket: a Python-style timeout (O_NONBLOCK and poll) becomes
        // the kernel's wait limit; the service's `timeout` is that already.
        if let timeout = request.timeout {
            try request.setTimeout(nil)
            if timeout > .zero { try request.setIdleTimeout(timeout) }
        }
        let fd = request.fileno()
        let status = binding.call(client: clientAddress, replyingOn: nil) { stream($0, fd) }
        try check(status, binding)
    }
}

/// Datagrams: the plugin gets the bytes and answers through `ssd_request.reply`.
final class PluginDatagramBridge: BaseRequestHandler {
    override func handle() throws {
        let binding = try pluginBinding()
        guard let datagram = binding.handler.entry.datagram else {
            throw PluginCallError(description: "plugin handler \(binding.handlerName) cannot serve datagrams")
        }
        let status = packet.withUnsafeBytes { bytes in
            binding.call(client: clientAddress, replyingOn: request) { datagram($0, bytes.baseAddress, bytes.count) }
        }
        try check(status, binding)
    }
}
