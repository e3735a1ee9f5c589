// The master's record of its workers: which service and generation each pid serves (the metrics
// process has a record too, under MetricsProcess.recordName).
#if canImport(Glibc)
import Glibc
#endif

/// What the supervisor knows of a worker that runs a program (`handler = program`).
struct ProgramTraits: Equatable {
    /// Sent to ask it to finish (`stop_signal`) instead of SIGTERM.
    let stopSignal: Int32
    /// Killed if not ready this long after it started (`start_timeout`).
    let startTimeout: Duration
}

/// One live worker.
struct WorkerRecord {
    let pid: pid_t
    let service: String
    let generation: Int
    let started: ContinuousClock.Instant
    /// Its scoreboard slot, and how long one of its requests may run (nil: no limit).
    var slot: Int? = nil
    var requestTimeout: Duration? = nil
    /// The channel on which the master sends it a reopened log (nil: it could not be made).
    var logChannel: DescriptorChannel? = nil
    /// Set once the master killed it for a request over `requestTimeout`.
    var killedForHang = false
    /// Set once it reached its accept loop (the scoreboard says so).
    var ready = false
    /// Set when the worker was told to stop (reload, TTOU, shutdown): it is not replaced, and it is
    /// killed if still alive at `killAt`.
    var retiring = false
    var killAt: ContinuousClock.Instant? = nil
    /// Set for a program worker (nil: a worker of socketserverd's own).
    var program: ProgramTraits? = nil
    /// Set when it failed before serving (a program that could not execute, or was killed for not
    /// becoming ready in time): its end counts as a failure at start-up, for the back-off.
    var failedToStart = false
}

extension WorkerRecord {
    /// How the log names it: "worker 123 (service echo)", or "metrics process 123".
    var title: String { Self.title(pid: pid, service: service) }

    static func title(pid: pid_t, service: String) -> String {
        service == MetricsProcess.recordName ? "metrics process \(pid)" : "worker \(pid) (service \(service))"
    }
}

/// Live workers by pid.
struct WorkerTable {
    private(set) var records: [pid_t: WorkerRecord] = [:]

    var isEmpty: Bool { records.isEmpty }
    var count: Int { records.count }

    mutating func add(_ record: WorkerRecord) { records[record.pid] = record }

    mutating func remove(_ pid: pid_t) -> WorkerRecord? { records.removeValue(forKey: pid) }

    var logChannels: [DescriptorChannel] { records.values.compactMap(\.logChannel) }

    /// Workers of `service` in `generation` that are not retiring (the ones that count).
    func active(service: String, generation: Int) -> [WorkerRecord] {
        records.values.filter { $0.service == service && $0.generation == generation && !$0.retiring }
            .sorted { ($0.started, $0.pid) < ($1.started, $1.pid) }
    }

    /// Marks workers as retiring with a kill deadline; returns their pids.
    mutating func retire(where predicate: (WorkerRecord) -> Bool, deadline: ContinuousClock.Instant) -> [pid_t] {
        var pids: [pid_t] = []
        for (pid, record) in records where !record.retiring && predicate(record) {
            records[pid]?.retiring = true
            records[pid]?.killAt = deadline
            pids.append(pid)
        }
        return pids
    }

    /// Retiring workers whose deadline has passed.
    func overdue(at now: ContinuousClock.Instant) -> [WorkerRecord] {
        records.values.filter { record in record.killAt.map { $0 <= now } ?? false }
    }

    /// The earliest kill deadline, for the loop's poll timeout.
    var nextDeadline: ContinuousClock.Instant? { records.values.compactMap(\.killAt).min() }

    mutating func clearDeadline(_ pid: pid_t) { records[pid]?.killAt = nil }

    mutating func markKilledForHang(_ pid: pid_t) { records[pid]?.killedForHang = true }

    mutating func markReady(_ pid: pid_t) { records[pid]?.ready = true }

    mutating func markFailedToStart(_ pid: pid_t) { records[pid]?.failedToStart = true }

    /// Brings every kill deadline forward to `deadline` at the latest (a fast stop after a graceful one).
    mutating func hasten(to deadline: ContinuousClock.Instant) {
        for (pid, record) in records { records[pid]?.killAt = min(record.killAt ?? deadline, deadline) }
    }
}

/// Keeps a crash loop from spinning: a worker that dies soon after starting doubles the wait
/// before the next start (0.1 s up to 30 s); one that lived long resets it.
struct CrashBackoff {
    static let startupWindow: Duration = .seconds(2)
    static let longest: Duration = .seconds(30)

    private var failures: [String: Int] = [:]
    private var notBefore: [String: ContinuousClock.Instant] = [:]

    /// Records a worker's death; returns the delay before its service may start another, if any.
    mutating func workerDied(service: String, lived: Duration, now: ContinuousClock.Instant, failedAtStart: Bool) -> Duration? {
        guard lived < CrashBackoff.startupWindow || failedAtStart else {
            failures[service] = 0
            notBefore[service] = nil
            return nil
        }
        let count = (failures[service] ?? 0) + 1
        failures[service] = count
        let delay = min(CrashBackoff.longest, .milliseconds(100) * (1 << min(count - 1, 20)))
        notBefore[service] = now.advanced(by: delay)
        return delay
    }

    func consecutiveFailures(_ service: String) -> Int { failures[service] ?? 0 }

    func mayStart(_ service: String, at now: ContinuousClock.Instant) -> Bool {
        notBefore[service].map { $0 <= now } ?? true
    }

    /// The earliest instant a delayed service may start again.
    var nextStart: ContinuousClock.Instant? { notBefore.values.min() }

    mutating func forget(_ service: String) {
        failures[service] = nil
        notBefore[service] = nil
    }

    mutating func clearExpired(at now: ContinuousClock.Instant) {
        for (service, instant) in notBefore where instant <= now { notBefore[service] = nil }
    }
}
