// What a service adds to a plain server: its limits, the idle timeout, max_requests, counting, logging.
#if canImport(Glibc)
import Glibc
#endif
import SocketServer
import SocketServerHandlers
import Synchronization

/// The rules of one service, shared by its stream and datagram server classes.
final class ServicePolicy: Sendable {
    let service: ServiceConfig
    /// Requests after which this worker retires (max_requests plus jitter); 0 = never.
    let retireAfter: Int
    private let served = Atomic<Int>(0)
    /// The lines a client can cause once per connection, each kind at most once per 10 s.
    let events: ServiceEventLog

    /// Whether this service's requests run programs (exec), whose jobs must not outlive them.
    let startsPrograms: Bool
    /// Set when a request that may have run a program ended; the worker's loop then sweeps.
    private let programEnded = Atomic<Bool>(false)
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

    init(service: ServiceConfig, scoreboard: Scoreboard? = nil, slot: Int? = nil, counters: ServiceCounters? = nil) {
        self.service = service
        self.counters = counters
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

    /// A different number for each datagram: where its search for a board record starts.
    func nextDatagramHint() -> Int { datagramHint.add(1, ordering: .relaxed).newValue }

    /// Runs the handler: a silent client is closed after `timeout`, and the request is on the
    /// scoreboard while it runs, so the master can kill a worker whose request hangs.
    func serve(_ request: Request, _ body: () throws -> Void) throws {
        if !service.listen.isDatagram, let timeout = service.idleTimeout { try request.socket.setTimeout(timeout) }
        logServing(request)
        if isDatagram { Self.record(request)?.sentToAtStart = Socket.bytesSentToByThisThread }
        let entry = scoreboard?.begin(slot: slot, clientText: request.clientAddress.description)
        if let entry { pthread_setspecific(currentEntry, UnsafeRawPointer(bitPattern: entry + 1)) }
        defer {
            if let entry {
                pthread_setspecific(currentEntry, nil)
                scoreboard?.end(slot: slot, entry: entry)
            }
            // The sweep itself runs in the worker's loop (serviceActions), off the request's path;
            // in a request child (fork) the flag is the child's own, and requestChildExited sets the worker's.
            if startsPrograms { programEnded.store(true, ordering: .relaxed) }
        }
        try body()
    }

    /// From the worker's loop: once a program has ended since the last call, kills what programs
    /// left behind (see Containment), which was re-parented to this worker.
    func sweepLeftBehind() {
        guard programEnded.exchange(false, ordering: .relaxed) else { return }
        let killed = Containment.sweep(liveGroups: { scoreboard?.liveChildGroups(in: slot) ?? [] })
        if killed > 0 { log.info("service \(service.name): killed \(killed) process(es) a program left behind") }
    }

    /// The debug line for each request (or connection, with concurrency = events) a worker takes.
    func logServing(_ request: Request) {
        log.debug("service \(service.name): worker \(getpid()) serving \(request.clientAddress)")
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

    /// Runs `process`, counts the connection as accepted (see `countsConnectionsFirst`) and the
    /// request toward max_requests, whether it succeeded or failed, unless it was refused because
    /// the pool or the event loop was full (it was never taken).
    func counting(_ server: BaseServer, _ request: Request, _ process: () throws -> Void) throws {
        let record = Self.record(request)
        if countsConnectionsFirst { countConnection(record) }
        do {
            try process()
        } catch {
            if !(error is RequestRefused) {
                countConnection(record)
                count(server)
            }
            throw error
        }
        countConnection(record)
        count(server)
    }

    /// Counts a request; at `retireAfter` the worker stops accepting and exits once in-flight work is done.
    func count(_ server: BaseServer) {
        guard retireAfter > 0 else { return }
        let total = served.add(1, ordering: .relaxed).newValue
        if total == retireAfter {
            log.info("service \(service.name): worker \(getpid()) served \(total) requests (max_requests); retiring")
            // Tell the master first: it starts the replacement at once, not when this one exits
            // (its persistent clients may keep it busy for a long time).
            scoreboard?.markRetiring(slot: slot)
            server.requestShutdown()
        }
    }

    /// accept failed (EMFILE, ENFILE, ENOBUFS…): the server already backs off 100 ms per failure so
    /// the loop does not spin; the log gets one line per 10 s, not one per attempt.
    func acceptFailed(_ error: any Error) {
        events.record(.acceptFailed) { "cannot accept: \(error); backing off" }
    }

    /// Writes the counts of rate-limited events that are due; `serviceActions` calls it once per
    /// loop, so the end of a burst is reported even if no event follows.
    func flushEvents() {
        events.flush()
        if AccessLog.shared.isOn { AccessLog.shared.flushIfDue() }
    }

    /// A request failed (in the worker, or under concurrency = fork in its child, which counts into
    /// the same shared memory). Everything a client can cause this way is logged at most once per
    /// 10 s per kind, with a count: refusals because the pool or event loop was full, idle
    /// clients, resets (the client's doing, so info, not error), and every other handler error.
    func report(_ error: any Error, _ request: Request) {
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
