// The supervisor's decisions: which workers to start, retire and kill, computed from its state and
// a clock alone, so they are tested with made-up instants; the master carries them out.
#if canImport(Glibc)
import Glibc
#endif

/// How many workers a service of the current generation should have.
struct ServiceDemand: Equatable {
    let name: String
    let wanted: Int
    /// How long one request may run before its worker is killed (request_timeout; nil: no limit).
    var requestTimeout: Duration? = nil
    /// For a program service, `start_timeout`: its workers not ready by then are killed and
    /// started again, so its old generation waits for the new one however long that takes.
    var startTimeout: Duration? = nil
}

/// What the master reads from the scoreboard before deciding.
struct Observations {
    /// Workers that have reached their accept loop.
    var ready: Set<pid_t> = []
    /// Workers that stopped accepting by themselves (they reached their own request limit).
    var selfRetiring: Set<pid_t> = []
    /// Each busy worker's oldest request: how long it has run and for which client.
    var oldestRequest: [pid_t: (running: Duration, client: String)] = [:]
}

/// One thing for the master to do.
enum SupervisorAction: Hashable {
    enum RetireReason: Hashable { case oldGeneration, surplus, byItself, stop }
    enum KillReason: Hashable {
        case overdue, hung(client: String, running: Duration, limit: Duration)
        /// A program worker that did not become ready within its start_timeout.
        case notReady(limit: Duration)
    }

    /// Fork one worker of `service` for the current generation.
    case start(service: String)
    /// Ask a worker to finish and exit (TERM; none for a worker that retires by itself). It
    /// is already marked retiring, with its kill deadline.
    case retire(pid: pid_t, service: String, reason: RetireReason)
    /// SIGKILL a worker with its process group and the programs its requests started.
    case kill(pid: pid_t, service: String, reason: KillReason)
}

/// The master's supervision state: its workers, the crash back-off, what each service wants.
struct Supervisor {
    /// How long a new generation may take to become ready before the old one is retired anyway.
    static let startTimeout: Duration = .seconds(30)

    var workers = WorkerTable()
    var backoff = CrashBackoff()
    private(set) var generation = 1
    private(set) var demands: [ServiceDemand] = []
    /// Demands that TTIN, TTOU and `scale` leave alone (the metrics process), set per generation.
    private(set) var fixedDemands: [ServiceDemand] = []
    private(set) var gracefulTimeout: Duration = DaemonKeys.gracefulTimeout.default
    /// When the current generation began (its old workers wait for it to be ready, up to startTimeout).
    private(set) var generationStarted: ContinuousClock.Instant
    /// Set once a stop began: nothing starts, everything retires by the deadline.
    private(set) var stopDeadline: ContinuousClock.Instant? = nil

    init(now: ContinuousClock.Instant) { generationStarted = now }

    /// A new generation (start-up, reload, upgrade) with these demands, and `fixed` ones that
    /// worker-count adjustments do not change.
    mutating func begin(generation: Int, demands: [ServiceDemand], fixed: [ServiceDemand] = [], gracefulTimeout: Duration,
                        now: ContinuousClock.Instant) {
        self.generation = generation
        self.demands = demands
        fixedDemands = fixed
        self.gracefulTimeout = gracefulTimeout
        generationStarted = now
        for demand in demands + fixed { backoff.forget(demand.name) }
    }

    /// Every demand of the current generation.
    var allDemands: [ServiceDemand] { demands + fixedDemands }

    /// Same generation, other worker counts (TTIN/TTOU, `scale`).
    mutating func adjust(demands: [ServiceDemand]) { self.demands = demands }

    mutating func beginStop(deadline: ContinuousClock.Instant) { stopDeadline = deadline }

    var isStopping: Bool { stopDeadline != nil }

    /// Everything due at `now`, with the bookkeeping done (workers marked retiring or killed).
    mutating func decide(now: ContinuousClock.Instant, observing seen: Observations) -> [SupervisorAction] {
        var actions: [SupervisorAction] = []
        for pid in seen.ready { workers.markReady(pid) }
        actions += killOverdue(now: now)
        actions += killHung(seen)
        actions += killNotReady(now: now)
        if let stopDeadline {
            for pid in workers.retire(where: { _ in true }, deadline: stopDeadline) {
                actions.append(.retire(pid: pid, service: workers.records[pid]?.service ?? "", reason: .stop))
            }
            return actions
        }
        let deadline = now.advanced(by: gracefulTimeout)
        for pid in seen.selfRetiring.sorted() {
            guard let record = workers.records[pid], !record.retiring else { continue }
            _ = workers.retire(where: { $0.pid == pid }, deadline: deadline)
            actions.append(.retire(pid: pid, service: record.service, reason: .byItself))
        }
        backoff.clearExpired(at: now)
        for demand in allDemands {
            let live = workers.active(service: demand.name, generation: generation)
            if live.count > demand.wanted {
                for record in live.suffix(live.count - demand.wanted) {
                    _ = workers.retire(where: { $0.pid == record.pid }, deadline: deadline)
                    actions.append(.retire(pid: record.pid, service: demand.name, reason: .surplus))
                }
            } else if live.count < demand.wanted, backoff.mayStart(demand.name, at: now) {
                actions += Array(repeating: .start(service: demand.name), count: demand.wanted - live.count)
            }
        }
        actions += retireOldGeneration(now: now, deadline: deadline)
        return actions
    }

    /// Old-generation workers of a service retire once every wanted worker of the current
    /// generation is ready (so someone always accepts), at once for a service that is gone, and
    /// after startTimeout whatever the new generation's state, except for a program service: its
    /// unready workers are killed and started again, and the old ones serve meanwhile.
    private mutating func retireOldGeneration(now: ContinuousClock.Instant, deadline: ContinuousClock.Instant) -> [SupervisorAction] {
        let late = generationStarted.duration(to: now) >= Supervisor.startTimeout
        var actions: [SupervisorAction] = []
        for record in workers.records.values.sorted(by: { $0.pid < $1.pid })
        where record.generation < generation && !record.retiring {
            if let demand = allDemands.first(where: { $0.name == record.service }), !late || demand.startTimeout != nil {
                let ready = workers.active(service: demand.name, generation: generation).filter(\.ready).count
                if ready < demand.wanted { continue }
            }
            _ = workers.retire(where: { $0.pid == record.pid }, deadline: deadline)
            actions.append(.retire(pid: record.pid, service: record.service, reason: .oldGeneration))
        }
        return actions
    }

    private mutating func killOverdue(now: ContinuousClock.Instant) -> [SupervisorAction] {
        workers.overdue(at: now).sorted(by: { $0.pid < $1.pid }).map { record in
            workers.clearDeadline(record.pid)
            return .kill(pid: record.pid, service: record.service, reason: .overdue)
        }
    }

    /// Program workers past their start_timeout without being ready: killed, and their end counts
    /// as a failure at start-up (back-off).
    private mutating func killNotReady(now: ContinuousClock.Instant) -> [SupervisorAction] {
        var actions: [SupervisorAction] = []
        for record in workers.records.values.sorted(by: { $0.pid < $1.pid })
        where !record.ready && !record.retiring && !record.failedToStart {
            guard let program = record.program, record.started.advanced(by: program.startTimeout) <= now else { continue }
            workers.markFailedToStart(record.pid)
            actions.append(.kill(pid: record.pid, service: record.service, reason: .notReady(limit: program.startTimeout)))
        }
        return actions
    }

    private mutating func killHung(_ seen: Observations) -> [SupervisorAction] {
        var actions: [SupervisorAction] = []
        for record in workers.records.values.sorted(by: { $0.pid < $1.pid }) where !record.killedForHang {
            guard let limit = record.requestTimeout, let oldest = seen.oldestRequest[record.pid], oldest.running > limit else { continue }
            workers.markKilledForHang(record.pid)
            actions.append(.kill(pid: record.pid, service: record.service,
                                 reason: .hung(client: oldest.client, running: oldest.running, limit: limit)))
        }
        return actions
    }

    /// The next instant something is due without a signal (a kill deadline, a delayed start, the
    /// end of the new generation's start window while old workers wait for it).
    func nextDue(now: ContinuousClock.Instant) -> ContinuousClock.Instant? {
        var instants = [workers.nextDeadline].compactMap { $0 }
        if stopDeadline == nil, let start = backoff.nextStart { instants.append(start) }
        if workers.records.values.contains(where: { $0.generation < generation && !$0.retiring }) {
            instants.append(generationStarted.advanced(by: Supervisor.startTimeout))
            // A worker's readiness is a word in the scoreboard, not an event: look again soon. (A
            // program's comes as an event to the master's loop.)
            if workers.records.values.contains(where: { $0.generation == generation && !$0.ready && $0.program == nil }) {
                instants.append(now.advanced(by: Supervisor.readinessPoll))
            }
        }
        for record in workers.records.values where !record.ready && !record.retiring && !record.failedToStart {
            if let program = record.program { instants.append(record.started.advanced(by: program.startTimeout)) }
        }
        return instants.min()
    }

    /// How often the master looks at the scoreboard while an old generation waits for a new one.
    static let readinessPoll: Duration = .milliseconds(5)

    /// How a worker's end is to be reported, and whether its service backs off.
    enum Exit: Equatable {
        /// It was retiring (reload, stop, TTOU, by itself): nothing to replace.
        case retired
        /// It exited 0 unasked: replaced at once.
        case clean
        /// It died: replaced after `delay` (nil: at once); `failures` in a row so far.
        case crashed(delay: Duration?, failures: Int, lived: Duration)
    }

    /// Records a reaped worker; nil if the pid was not a worker.
    mutating func workerExited(pid: pid_t, status: Int32, failedAtStart: Bool, now: ContinuousClock.Instant) -> (WorkerRecord, Exit)? {
        guard let record = workers.remove(pid) else { return nil }
        if record.retiring { return (record, .retired) }
        // A program that exits unasked, even with 0, is started again with the back-off.
        if status == 0 && record.program == nil { return (record, .clean) }
        let lived = record.started.duration(to: now)
        let failed = record.program == nil ? failedAtStart : record.failedToStart
        let delay = backoff.workerDied(service: record.service, lived: lived, now: now, failedAtStart: failed)
        return (record, .crashed(delay: delay, failures: backoff.consecutiveFailures(record.service), lived: lived))
    }
}
