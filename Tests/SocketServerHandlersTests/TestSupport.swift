// Test servers whose hooks are a HandlerHost, for the built-in handler tests (clients, files and
// upload frames come from SocketServerTestSupport).
import Foundation
import Synchronization
import XCTest
import SocketServer
import SocketServerHandlers
import SocketServerTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// A test server's hooks and its handlers' host, as the daemon's service policy is: it records
/// the options, log lines and handler errors.
final class HostState: ServerHooks, HandlerHost, Sendable {
    let serviceName = "test"
    let options: [String: String]
    /// Applied to each connection before the handler runs, as the daemon does (nil for datagrams).
    let socketTimeout: Duration?
    /// The built-in handler's settings built from `options`, as the daemon builds them (nil when
    /// they cannot be built: the handler then serves unconfigured).
    let handlerSettings: (any Sendable)?
    private let logLines = Mutex<[(level: LogLevel, message: String)]>([])
    private let errorLines = Mutex<[String]>([])
    private let problemLines = Mutex<[(problem: RequestProblem, message: String)]>([])

    init(options: [String: String], socketTimeout: Duration?, handler: BaseRequestHandler.Type) {
        self.options = options
        self.socketTimeout = socketTimeout
        let descriptor = BuiltinHandlers.all.first { $0.stream == handler || $0.datagram == handler }
        handlerSettings = try? descriptor?.settings?(HandlerConfiguration(options: options))
    }

    func willHandle(_ request: Request, server: BaseServer) throws {
        if let socketTimeout { try request.socket.setTimeout(socketTimeout) }
    }

    func failed(_ error: any Error, request: Request, server: BaseServer) { recordError(error) }
    func log(_ level: LogLevel, _ message: String) { record(level, message) }
    func logProblem(_ problem: RequestProblem, _ message: String) { recordProblem(problem, message) }

    func record(_ level: LogLevel, _ message: String) { logLines.withLock { $0.append((level, message)) } }
    func recordError(_ error: any Error) { errorLines.withLock { $0.append("\(error)") } }
    /// A handler's `logProblem`: kept with its kind, and as an error line.
    func recordProblem(_ problem: RequestProblem, _ message: String) {
        problemLines.withLock { $0.append((problem, message)) }
        record(.error, message)
    }

    var logs: [(level: LogLevel, message: String)] { logLines.withLock { $0 } }
    var errors: [String] { errorLines.withLock { $0 } }
    var problems: [(problem: RequestProblem, message: String)] { problemLines.withLock { $0 } }
}

/// A threading TCP (or Unix stream, by address) server with a HostState as its hooks.
final class HostStreamServer: TCPServer, @unchecked Sendable {
    let state: HostState

    init(_ address: SocketAddress, _ handler: BaseRequestHandler.Type,
         options: [String: String] = [:], socketTimeout: Duration? = .seconds(10)) throws {
        state = HostState(options: options, socketTimeout: socketTimeout, handler: handler)
        try super.init(address, handler, concurrency: ThreadingMixIn())
        hooks = state
    }
}

/// A UDP (or Unix datagram, by address) server with a HostState as its hooks; `socketTimeout`
/// is its own socket's, as the daemon sets a datagram service's.
final class HostDatagramServer: UDPServer, @unchecked Sendable {
    let state: HostState

    init(_ address: SocketAddress, _ handler: BaseRequestHandler.Type, options: [String: String] = [:],
         socketTimeout: Duration? = nil) throws {
        state = HostState(options: options, socketTimeout: nil, handler: handler)
        try super.init(address, handler)
        hooks = state
        if let socketTimeout { try socket.setTimeout(socketTimeout) }
    }
}

/// A server serving on a background thread until `stop()`.
final class Serving {
    let server: BaseServer
    private let thread: PosixThread

    init(_ server: BaseServer) throws {
        self.server = server
        thread = try PosixThread.start { try? server.serveForever(pollInterval: .milliseconds(50)) }
    }

    func stop() {
        server.shutdown()
        server.serverClose()
        thread.join()
    }
}

/// Pseudo-random bytes from a fixed seed.
func patternBytes(_ count: Int, seed: UInt64 = 0x9E37_79B9_7F4A_7C15) -> [UInt8] {
    var state = seed
    return (0..<count).map { _ in
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return UInt8(truncatingIfNeeded: state >> 33)
    }
}
