// One kind of log line that can come once per connection: written at most once per interval, with
// the count of the events in between, so that one client cannot flood the log.
#if canImport(Glibc)
import Glibc
#endif
import CSocketServerShims
import SocketServer

/// Where a rate-limited line goes: the daemon's `Logger` (or, in tests, a list).
protocol LogSink: Sendable {
    func enabled(_ level: LogLevel) -> Bool
    func log(_ level: LogLevel, _ message: String)
}

extension Logger: LogSink {}

/// Writes one kind of line at most once per `interval` seconds. An event that comes while a line
/// is due is written with the number of events counted since the last line; the others are only
/// counted, and `flush` (called once per server loop) writes their number once the interval has
/// passed, so the end of a burst is reported even if no event follows.
///
/// The state is two 64-bit words at `words`, which may be shared between processes (the workers
/// of a service and their request children map the same memory): every change is one atomic
/// operation on them, without a lock, so a child forked in the middle of another thread's call
/// still can use it. Every event is counted in exactly one line.
struct LogRateLimiter: @unchecked Sendable {
    /// The words one limiter keeps: when the next line may be written (monotonic seconds; 0 at
    /// first, so the first event is written at once), and the events not yet in a line.
    static let wordCount = 2

    let level: LogLevel
    /// What every line starts with (`service echo: `).
    let prefix: String
    /// The counted events, plural, for the count (`connections reset by their clients`).
    let what: String
    let interval: Int64
    private let nextLine: UnsafeMutablePointer<Int64>
    private let unreported: UnsafeMutablePointer<Int64>
    private let sink: any LogSink
    private let clock: @Sendable () -> Int64

    init(level: LogLevel, prefix: String, what: String, interval: Int64 = 10, words: UnsafeMutablePointer<Int64>,
         sink: any LogSink = Logger.shared, clock: @escaping @Sendable () -> Int64 = LogRateLimiter.monotonicSeconds) {
        self.level = level
        self.prefix = prefix
        self.what = what
        self.interval = interval
        self.nextLine = words
        self.unreported = words + 1
        self.sink = sink
        self.clock = clock
    }

    /// One event. `message` is built only if its line is written.
    func record(_ message: () -> String) {
        guard sink.enabled(level) else { return }
        cssd_atomic_add64(unreported, 1)
        guard claimLine() else { return }
        let count = takeUnreported()
        guard count > 0 else { return }  // the line before took this event into its count
        let others = count > 1 ? " (and \(count - 1) more \(what) since the last such line; logged at most every \(interval) s)" : ""
        sink.log(level, prefix + message() + others)
    }

    /// Writes the number of events not yet in a line, if there are some and a line is due.
    func flush() {
        guard cssd_atomic_load64(unreported) > 0, sink.enabled(level), claimLine() else { return }
        let count = takeUnreported()
        guard count > 0 else { return }
        sink.log(level, prefix + "\(count) more \(what) since the last such line (logged at most every \(interval) s)")
    }

    /// Whether a line is due; if so this caller writes it (and no other for `interval`).
    private func claimLine() -> Bool {
        let now = clock()
        let next = cssd_atomic_load64(nextLine)
        guard now >= next else { return false }
        return cssd_atomic_cas64(nextLine, next, now + interval) != 0
    }

    /// The events counted so far, which the caller's line accounts for; events that come
    /// meanwhile stay counted for the next line.
    private func takeUnreported() -> Int64 {
        let count = cssd_atomic_load64(unreported)
        guard count > 0 else { return 0 }
        cssd_atomic_add64(unreported, -count)
        return count
    }

    /// Seconds on the monotonic clock, which every process of the machine shares.
    @Sendable static func monotonicSeconds() -> Int64 {
        Int64(monotonicNanoseconds() / 1_000_000_000)
    }
}
