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

/// The policy's part of the request pipeline, for both servers: each override passes in what the
/// library's server does (`super`).
extension ServiceServer where Self: BaseServer {
    /// `processRequest`: a failure other than a refusal is counted. With `concurrency = events` no
    /// `finishRequest` runs (which logs the request), so the request is logged here.
    func processing(_ request: Request, _ process: () throws -> Void) throws {
        if policy.service.concurrency == .events { policy.logServing(request) }
        try policy.counting(self, request, process)
    }

    /// `shutdownRequest`: the connection is closed first (its client sees the end sooner), then counted.
    func ending(_ request: Request, _ close: () -> Void) {
        close()
        policy.ended(request)
    }

    /// `handleAcceptError`: the failure is recorded (rate-limited), then the library backs off.
    func acceptFailed(_ error: any Error, backOff: () -> Void) {
        policy.acceptFailed(error)
        backOff()
    }

    /// `serviceActions`: the library's actions, the rate-limited events that are due, and the sweep
    /// of what ended programs left behind.
    func servicing(_ actions: () -> Void) {
        actions()
        policy.flushEvents()
        policy.sweepLeftBehind()
    }
}

/// A service on a stream listener (tcp://, unix:).
final class StreamService: TCPServer, ServiceServer, @unchecked Sendable {
    let policy: ServicePolicy

    init(socket: Socket, handler: BaseRequestHandler.Type, policy: ServicePolicy, concurrency: any RequestConcurrency) throws {
        self.policy = policy
        try super.init(socket: socket, handler, concurrency: concurrency)
    }

    override func getRequest() throws -> Request? { policy.attach(try super.getRequest()) }
    override func verifyRequest(_ request: Request) -> Bool { policy.verify(request) }
    override func processRequest(_ request: Request) throws { try processing(request) { try super.processRequest(request) } }
    override func finishRequest(_ request: Request) throws { try policy.serve(request) { try super.finishRequest(request) } }
    override func handleError(_ error: any Error, request: Request) { policy.report(error, request) }
    override func shutdownRequest(_ request: Request) { ending(request) { super.shutdownRequest(request) } }
    override func handleAcceptError(_ error: any Error) { acceptFailed(error) { super.handleAcceptError(error) } }
    override func serviceActions() { servicing { super.serviceActions() } }
}

/// A service on a datagram listener (udp://, unixgram:).
final class DatagramService: UDPServer, ServiceServer, @unchecked Sendable {
    let policy: ServicePolicy

    init(socket: Socket, handler: BaseRequestHandler.Type, policy: ServicePolicy, concurrency: any RequestConcurrency) throws {
        self.policy = policy
        try super.init(socket: socket, handler, concurrency: concurrency)
    }

    override func getRequest() throws -> Request? { policy.attach(try super.getRequest()) }
    override func verifyRequest(_ request: Request) -> Bool { policy.verify(request) }
    override func processRequest(_ request: Request) throws { try processing(request) { try super.processRequest(request) } }
    override func finishRequest(_ request: Request) throws { try policy.serve(request) { try super.finishRequest(request) } }
    override func handleError(_ error: any Error, request: Request) { policy.report(error, request) }
    override func shutdownRequest(_ request: Request) { ending(request) { super.shutdownRequest(request) } }
    override func handleAcceptError(_ error: any Error) { acceptFailed(error) { super.handleAcceptError(error) } }
    override func serviceActions() { servicing { super.serviceActions() } }
}
