// The classes a Swift plugin's blocking handlers subclass, in the style of SocketServer's request
// handlers: one instance per request; setup(), handle(), finish(); rfile and wfile.
#if canImport(Glibc)
import Glibc
#endif
import CSocketServerPlugin
import protocol SocketServer.RequestHandlerSteps

/// Log levels for `log(_:_:)`.
public enum PluginLogLevel: Int32, Sendable {
    case debug = 0, info = 1, warning = 2, error = 3
}

/// A config key a handler reads: its name and its default (nil makes it required).
public struct PluginKey: Sendable {
    public let name: String
    public let defaultValue: String?

    public init(_ name: String, default defaultValue: String?) {
        self.name = name
        self.defaultValue = defaultValue
    }

    /// A key the service must set.
    public static func required(_ name: String) -> PluginKey { PluginKey(name, default: nil) }
}

/// An error a handler throws to fail a request with a message for the daemon's log.
public struct PluginError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// One call from the daemon (opaque; valid only while the handler runs).
public struct PluginCall {
    let request: UnsafePointer<ssd_request>
}

/// What every plugin handler has, blocking or event-driven: the service's config keys, the
/// client, the daemon's log. Override the class members `keys` and `validate(key:value:)` to
/// declare and check keys.
open class PluginHandlerBase {
    /// The keys the handler reads (a service may set only these, besides the daemon's own).
    open class var keys: [PluginKey] { [] }

    /// Checks one key's value before any worker starts (and in --check-config): nil if fine,
    /// otherwise the reason, reported with the config file and line.
    open class func validate(key: String, value: String) -> String? { nil }

    let request: UnsafePointer<ssd_request>

    /// The service's name, from `[service NAME]`.
    public let serviceName: String
    /// The client: `127.0.0.1:40000`, `[::1]:40000`, a Unix socket path, or "".
    public let clientAddress: String

    init(_ call: PluginCall) {
        request = call.request
        serviceName = String(cString: request.pointee.service)
        clientAddress = String(cString: request.pointee.client)
    }

    /// A declared key's value for this service (as written, or its default); nil if undeclared.
    public func config(_ key: String) -> String? {
        request.pointee.config?(request, key).map { String(cString: $0) }
    }

    /// Writes one line to the daemon's log (prefixed with the service, handler and client).
    public func log(_ level: PluginLogLevel, _ message: String) {
        request.pointee.log?(request, level.rawValue, message)
    }
}

/// A blocking handler: one instance per request, run as setup(), handle(), finish().
open class PluginRequestHandler: PluginHandlerBase {
    override init(_ call: PluginCall) { super.init(call) }

    /// Prepares for `handle()`. The default does nothing.
    open func setup() throws {}
    /// Serves the request. The default does nothing.
    open func handle() throws {}
    /// Runs after `handle()`, whether it returned or threw.
    open func finish() throws {}
}

/// `serve` (PluginExport.swift) runs a request with `runSteps()`, in the order the library's handlers use.
extension PluginRequestHandler: RequestHandlerSteps {
    /// A timeout or reset that ended `for line in rfile` fails the request, as a thrown error would.
    package var errorThatEndedInput: (any Error)? { (self as? PluginStreamHandler)?.rfile.iterationError }
}

/// A stream connection: read with `rfile`, answer with `wfile`. The daemon closes the connection
/// after `finish()`; the socket's timeouts are the service's `timeout`.
open class PluginStreamHandler: PluginRequestHandler {
    /// The connected socket (blocking, with SO_RCVTIMEO/SO_SNDTIMEO). Do not close it.
    public let fileno: Int32
    public let rfile: PluginReader
    public let wfile: PluginWriter

    public required init(_ call: PluginCall, fd: Int32) {
        fileno = fd
        rfile = PluginReader(pluginFD: fd)
        wfile = PluginWriter(fd: fd)
        super.init(call)
    }
}

/// One datagram: read it from `packet` or `rfile`; what is written to `wfile` is sent back as
/// one datagram when the handler finishes (nothing, if nothing was written).
open class PluginDatagramHandler: PluginRequestHandler {
    public let packet: [UInt8]
    public let rfile: PluginReader
    public let wfile: PluginWriter

    public required init(_ call: PluginCall, packet: [UInt8]) {
        self.packet = packet
        rfile = PluginReader(bytes: packet)
        wfile = PluginWriter(fd: nil)
        super.init(call)
    }

    override open func finish() throws {
        guard !wfile.collected.isEmpty else { return }
        guard let reply = request.pointee.reply else { throw PluginError("this request cannot be answered") }
        let status = wfile.collected.withUnsafeBytes { reply(request, $0.baseAddress, $0.count) }
        if status != 0 { throw PluginIOError(call: "reply", code: errno) }
    }
}
