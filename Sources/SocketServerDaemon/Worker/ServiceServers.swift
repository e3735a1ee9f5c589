// The servers a worker runs: the library's stream and datagram servers with a service's policy.
// They differ only in their superclass; everything else is the policy's.
#if canImport(Glibc)
import Glibc
#endif
import SocketServer
import SocketServerHandlers

/// A server running one service: what its handlers see of it (HandlerHost) comes from the policy.
protocol ServiceServer: HandlerHost {
    var policy: ServicePolicy { get }
}

extension ServiceServer {
    var serviceName: String { policy.service.name }
    var options: [String: String] { policy.service.options }
    var idleTimeout: Duration? { policy.service.idleTimeout }
    func requestStartedProcessGroup(_ group: pid_t) { policy.noteProcessGroup(group) }
    func log(_ level: LogLevel, _ message: String) { Logger.shared.log(level, "service \(serviceName): \(message)") }
    /// A handler's per-request problem: at most one line per 10 s per kind, with a count.
    func logProblem(_ problem: RequestProblem, _ message: String) {
        policy.events.record(problem == .badRequest ? .badRequest : .failed) { message }
    }
}

/// A service on a stream listener (tcp://, unix:).
final class StreamService: TCPServer, ServiceServer, @unchecked Sendable {
    let policy: ServicePolicy

    init(socket: Socket, handler: BaseRequestHandler.Type, policy: ServicePolicy, concurrency: any RequestConcurrency) throws {
        self.policy = policy
        try super.init(socket: socket, handler, concurrency: concurrency)
    }

    override func verifyRequest(_ request: Request) -> Bool { policy.verify(request) }
    override func processRequest(_ request: Request) throws {
        if policy.service.concurrency == .events { policy.logServing(request) }  // no finishRequest with events
        try policy.counting(self) { try super.processRequest(request) }
    }
    override func finishRequest(_ request: Request) throws {
        try policy.serve(request) { try super.finishRequest(request) }
    }
    override func handleError(_ error: any Error, request: Request) { policy.report(error, request) }
    override func handleAcceptError(_ error: any Error) {
        policy.acceptFailed(error)
        super.handleAcceptError(error)
    }
    override func serviceActions() {
        super.serviceActions()
        policy.flushEvents()
    }
}

/// A service on a datagram listener (udp://, unixgram:).
final class DatagramService: UDPServer, ServiceServer, @unchecked Sendable {
    let policy: ServicePolicy

    init(socket: Socket, handler: BaseRequestHandler.Type, policy: ServicePolicy, concurrency: any RequestConcurrency) throws {
        self.policy = policy
        try super.init(socket: socket, handler, concurrency: concurrency)
    }

    override func verifyRequest(_ request: Request) -> Bool { policy.verify(request) }
    override func processRequest(_ request: Request) throws {
        try policy.counting(self) { try super.processRequest(request) }
    }
    override func finishRequest(_ request: Request) throws {
        try policy.serve(request) { try super.finishRequest(request) }
    }
    override func handleError(_ error: any Error, request: Request) { policy.report(error, request) }
    override func handleAcceptError(_ error: any Error) {
        policy.acceptFailed(error)
        super.handleAcceptError(error)
    }
    override func serviceActions() {
        super.serviceActions()
        policy.flushEvents()
    }
}
