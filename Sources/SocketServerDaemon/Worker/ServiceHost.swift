// What a service's handlers see of it: its policy, as their HandlerHost.
#if canImport(Glibc)
import Glibc
#endif
import SocketServer
import SocketServerHandlers

/// The policy is the hooks of the service's server, where handlers find their host.
extension ServicePolicy: HandlerHost {
    var serviceName: String { service.name }
    var options: [String: String] { service.options }
    func requestStartedProcessGroup(_ group: pid_t) { noteProcessGroup(group) }
    func log(_ level: LogLevel, _ message: String) { Logger.shared.log(level, "service \(serviceName): \(message)") }
    /// A handler's per-request problem: at most one line per 10 s per kind, with a count.
    func logProblem(_ problem: RequestProblem, _ message: String) {
        events.record(problem == .badRequest ? .badRequest : .failed) { message }
    }
}
