// What a service adds to the library's server, installed as its hooks: its limits, the idle
// timeout, max_requests, the scoreboard, counting, logging.
#if canImport(Glibc)
import Glibc
#endif
import SocketServer
import SocketServerHandlers
import Synchronization

/// The rules of one service. `install(on:)` makes it the hooks of the library's server, stream or
/// datagram, and the host its handlers see (ServiceHost.swift).
final class ServicePolicy: ServerHooks, Sendable {
    let service: ServiceConfig
    /// Requests after which this worker retires (max_requests plus jitter); 0 = never.
    let retireAfter: Int
    private let served = Atomic<Int>(0)
    /// The lines a client can cause once per connection, each kind at most once per 10 s.
    let events: ServiceEventLog

    /// The handler's settings, built from the service's configuration when the worker started.
    let handlerSettings: (any Sendable)?

    /// Whether this service's requests run programs (exec), whose jobs must not outlive them.
    let startsPrograms: Bool
    /// Set when a request that may have run a program ended; the worker's loop then sweeps.
    private let programEnded = Atomic<Bool>(false)
    /// When the last sweep ran (monotonic nanoseconds): sweeps are at least `sweepInterval` apart.
    private let lastSweep = Atomic<UInt64>(0)
    /// A sweep reads every thread's children from /proc and asks each child its session: under a
    /// stream of short programs it runs at most this often, not after every one (the loop runs
    /// serviceActions at least once a second, so a pending sweep waits at most that long when idle).
    static let sweepInterval: UInt64 = 100_000_000
    /// Where this worker notes its running requests and open connections for the master (nil: untracked).
    let scoreboard: Scoreboard?
    let slot: Int
    /// The service's counters, shared by all its workers (nil: not counted).
    let counters: ServiceCounters?
    /// The worker's pid (its request children's lines name it too).
    let workerPID = getpid()
    let isDatagram: Bool
    /// Where a datagram's search for a free connection record on the board starts.
    private let datagramHint = Atomic<Int>(0)
    /// The scoreboard entry of the request this thread is running (entry + 1; 0 = none). Thread-local
    /// storage, not a lock: request children forked from a threaded parent must not inherit a lock.
    private let currentEntry: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()

    init(service: ServiceConfig, scoreboard: Scoreboard? = nil, slot: Int? = nil, counters: ServiceCounters? = nil,
         handlerSettings: (any Sendable)? = nil) {
        self.service = service
        self.counters = counters
        self.handlerSettings = handlerSettings
        isDatagram = service.listen.isDatagram
        startsPrograms = service.handler == "exec"
        self.scoreboard = slot == nil ? nil : scoreboard
        self.slot = slot ?? -1
        events = ServiceEventLog(service: service.name)
        if service.maxRequests > 0 {
            // Up to 10% jitter, so that workers started together don't all restart together.
            let jitter = Int.random(in: 0...max(0, service.maxRequests / 10))
            retireAfter = service.maxRequests + jitter
        } else {
            retireAfter = 0
        }
    }

    /// Makes this policy the hooks of `server` and applies `timeout` to a datagram listener.
    func install(on server: TCPServer) throws {
        server.hooks = self
        if service.listen.isDatagram { try applyIdleTimeout(to: server.socket) }
    }

    // MARK: timeout, the idle time of a connection

    /// `timeout` becomes each connection's idle timeout (`willHandle`: the kernel's wait limit, so a
    /// blocking recv or send needs no poll first) and a datagram listener's timeout (`install`): a
    /// handler's recv or send that waits that long fails, and exec's relay and the plugin bridge
    /// read their limit from the socket.
    private func applyIdleTimeout(to socket: Socket) throws {
        guard let timeout = service.idleTimeout else { return }
        if socket.type == .stream { try socket.setIdleTimeout(timeout) } else { try socket.setTimeout(timeout) }
    }

    /// With `concurrency = events`: the event loop, which closes connections silent for `timeout`.
    func eventLoop(handler: any EventStreamHandler.Type, maxConnections: Int) -> EventLoopMixIn {
        EventLoopMixIn(handler: handler, maxConnections: maxConnections, idleTimeout: service.idleTimeout)
    }

    // MARK: The hooks

    /// After accept: the record every later hook reads (ConnectionAccounting.swift).
    func accepted(_ request: Request, server: BaseServer) -> Request { attach(request) }

    /// The limits (`admit`, in ConnectionLimits.swift; `allow` among them). With `concurrency =
    /// events` no `willHandle` runs (which logs the request), so the connection is logged here.
    /// Where nothing can refuse it later (sync, fork), an admitted connection is counted now: a
    /// request child then inherits the record already counted.
    func verify(_ request: Request, server: BaseServer) -> Bool {
        guard verify(request) else { return false }
        if service.concurrency == .events { logServing(request) }
        if countsConnectionsFirst { countConnection(Self.record(request)) }
        return true
    }

    /// After the connection is closed: how it ended is counted and logged (ConnectionAccounting.swift).
    func ended(_ request: Request, server: BaseServer) { ended(request) }

    /// A different number for each datagram: where its search for a board record starts.
    func nextDatagramHint() -> Int { datagramHint.add(1, ordering: .relaxed).newValue }

    /// Before the handler: a silent client is closed after `timeout`, and the request is on the
    /// scoreboard while it runs, so the master can kill a worker whose request hangs.
    func willHandle(_ request: Request, server: BaseServer) throws {
        if !isDatagram { try applyIdleTimeout(to: request.socket) }
        logServing(request)
        if isDatagram { Self.record(request)?.sentToAtStart = Socket.bytesSentToByThisThread }
        if let entry = scoreboard?.begin(slot: slot, client: request.clientAddress) {
            pthread_setspecific(currentEntry, UnsafeRawPointer(bitPattern: entry + 1))
        }
    }

    /// After the handler: the request leaves the scoreboard. The sweep of what its program left
    /// behind runs in the worker's loop (`serviceActions`), off the request's path; in a request
    /// child (fork) the flag is the child's own, and requestChildExited sets the worker's.
    func didHandle(_ request: Request, server: BaseServer) {
        if let stored = pthread_getspecific(currentEntry) {
            pthread_setspecific(currentEntry, nil)
            scoreboard?.end(slot: slot, entry: Int(bitPattern: stored) - 1)
        }
        if startsPrograms { programEnded.store(true, ordering: .relaxed) }
    }

    /// Each loop: the counts of rate-limited events that are due (so the end of a burst is
    /// reported even if no event follows), and the sweep of what ended programs left behind.
    func serviceActions(_ server: BaseServer) {
        events.flush()
        if AccessLog.shared.isOn { AccessLog.shared.flushIfDue() }
        sweepLeftBehind()
    }

    /// Once a program has ended since the last sweep, and `sweepInterval` after that sweep, kills
    /// what programs left behind (see Containment), which was re-parented to this worker.
    private func sweepLeftBehind() {
        guard programEnded.load(ordering: .relaxed) else { return }
        let now = monotonicNanoseconds()
        guard now &- lastSweep.load(ordering: .relaxed) >= Self.sweepInterval else { return }
        lastSweep.store(now, ordering: .relaxed)
        programEnded.store(false, ordering: .relaxed)
        let killed = Containment.sweep(liveGroups: { scoreboard?.liveChildGroups(in: slot) ?? [] })
        if killed > 0 { log(.info, "killed \(killed) process(es) a program left behind") }
    }

    /// The debug line for each request (or connection, with concurrency = events) a worker takes.
    func logServing(_ request: Request) {
        Logger.shared.debug("service \(service.name): worker \(getpid()) serving \(request.clientAddress)")
    }

    /// The current request started (or, with 0, reaped) a program in process group `group`.
    func noteProcessGroup(_ group: pid_t) {
        guard let scoreboard, let stored = pthread_getspecific(currentEntry) else { return }
        scoreboard.setChildGroup(slot: slot, entry: Int(bitPattern: stored) - 1, group: group)
    }

    /// A request child (concurrency = fork) was reaped. One that died without ending its request
    /// (killed by a signal, a Swift trap) would leave it on the scoreboard, where it would look hung
    /// and cost the whole worker at request_timeout: end it, with the programs it started, and log
    /// it. What its connection held (active, per_source) is given back, however it ended.
    func requestChildExited(_ pid: pid_t, status: Int32) {
        if startsPrograms { programEnded.store(true, ordering: .relaxed) }  // its programs' jobs came here
        guard let scoreboard else { return }
        let unfinished = status == 0 ? [] : scoreboard.endAll(slot: slot, owner: pid)
        giveBackChildConnections(pid, unfinished: unfinished)
        guard !unfinished.isEmpty else { return }
        events.record(.crashed) {
            "request child \(pid) \(describeExit(status)) while serving " + unfinished.map(\.client).joined(separator: ", ")
        }
    }

    /// Counts the connection as accepted (if `verify` did not) and the request toward
    /// max_requests, whether it succeeded or failed, unless it was refused because the pool or
    /// the event loop was full (it was never taken). At `retireAfter` the worker stops accepting
    /// and exits once in-flight work is done.
    func processed(_ request: Request, error: (any Error)?, server: BaseServer) {
        guard !(error is RequestRefused) else { return }
        countConnection(Self.record(request))
        guard retireAfter > 0 else { return }
        let total = served.add(1, ordering: .relaxed).newValue
        if total == retireAfter {
            log(.info, "worker \(getpid()) served \(total) requests (max_requests); retiring")
            // Tell the master first: it starts the replacement at once, not when this one exits
            // (its persistent clients may keep it busy for a long time).
            scoreboard?.markRetiring(slot: slot)
            server.requestShutdown()
        }
    }

    /// accept failed (EMFILE, ENFILE, ENOBUFS…): the server then backs off 100 ms per failure so
    /// the loop does not spin; the log gets one line per 10 s, not one per attempt.
    func acceptFailed(_ error: any Error, server: BaseServer) {
        events.record(.acceptFailed) { "cannot accept: \(error); backing off" }
    }

    /// A request failed (in the worker, or under concurrency = fork in its child, which counts into
    /// the same shared memory). Everything a client can cause this way is logged at most once per
    /// 10 s per kind, with a count: refusals because the pool or event loop was full, idle
    /// clients, resets (the client's doing, so info, not error), and every other handler error.
    func failed(_ error: any Error, request: Request, server: BaseServer) {
        noteFailure(error, request)
        let client = request.clientAddress
        if error is RequestRefused {
            events.record(.full) { "client \(client): \(error)" }
        } else if case SocketError.timeout = error {
            events.record(.idle) { "closed idle client \(client) after \(service.idleTimeout.map { "\($0)" } ?? "timeout")" }
        } else if Self.isReset(error) {
            events.record(.reset) { "client \(client) reset the connection (\(error))" }
        } else {
            events.record(.failed) { "client \(client): \(error)" }
        }
    }

    /// Whether the client reset the connection: ECONNRESET on a receive, EPIPE (or ECONNRESET) on a send.
    static func isReset(_ error: any Error) -> Bool {
        guard let error = error as? SocketError, case .system = error else { return false }
        return error.errno == ECONNRESET || error.errno == EPIPE
    }
}
