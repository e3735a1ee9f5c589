// The daemon's log: one line per event on stderr, with level and pid.
#if canImport(Glibc)
import Glibc
#endif
import CSocketServerShims
import SocketServerHandlers
import Synchronization

/// Writes log lines to standard error (or a log file): `2026-11-23T11:30:00Z [1234] info: message`.
/// Under systemd (JOURNAL_STREAM set) the timestamp is left to the journal. Safe from any thread,
/// and after fork (each line is one write(2)).
public final class Logger: Sendable {
    public static let shared = Logger()

    // Atomics, not locks: workers fork per request, and a forked child must be able to log even if
    // another thread of its parent was in the middle of a log call.
    private let levelValue = Atomic<Int>(LogLevel.info.rawValue)
    private let fdValue = Atomic<Int32>(2)
    /// How many times the master reopened the log (SIGUSR1), in a shared page that forked workers
    /// inherit; a worker that sees a newer count reopens the file before its next line. No signal
    /// reaches the workers, so no handler's blocking call is interrupted by a log rotation.
    private let sharedGeneration: UInt
    /// The count this process's descriptor is from.
    private let seenGeneration = Atomic<Int64>(0)
    /// The log file's path; only the master changes it (SIGUSR1, start-up).
    private let path = Mutex<String?>(nil)
    private let timestamps: Bool

    init() {
        timestamps = getenv("JOURNAL_STREAM") == nil
        let page = mmap(nil, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0)
        sharedGeneration = page == MAP_FAILED ? 0 : UInt(bitPattern: page)
    }

    private var generation: UnsafeMutablePointer<Int64>? { UnsafeMutablePointer(bitPattern: sharedGeneration) }

    public var level: LogLevel {
        get { LogLevel(rawValue: levelValue.load(ordering: .relaxed)) ?? .info }
        set { levelValue.store(newValue.rawValue, ordering: .relaxed) }
    }

    /// True if a message at `level` would be written (check before building costly messages).
    public func enabled(_ level: LogLevel) -> Bool { level >= self.level }

    public func log(_ level: LogLevel, _ message: String) {
        guard enabled(level) else { return }
        if let generation {
            let current = cssd_atomic_load64(generation)
            if current != seenGeneration.load(ordering: .relaxed), seenGeneration.exchange(current, ordering: .relaxed) != current {
                do { try reopenFile() } catch { write(line: "[\(getpid())] error: cannot reopen the log: \(error)\n") }
            }
        }
        var line = ""
        if timestamps { line += Logger.timestamp() + " " }
        line += "[\(getpid())] \(level): \(message)\n"
        write(line: line)
    }

    private func write(line: String) {
        let fd = fdValue.load(ordering: .acquiring)
        var bytes = Array(line.utf8)[...]
        while !bytes.isEmpty {
            let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if written < 0 { if errno == EINTR { continue } else { return } }
            bytes = bytes.dropFirst(written)
        }
    }

    public func debug(_ message: @autoclosure () -> String) { if enabled(.debug) { log(.debug, message()) } }
    public func info(_ message: String) { log(.info, message) }
    public func warning(_ message: String) { log(.warning, message) }
    public func error(_ message: String) { log(.error, message) }

    /// Sends the log to `path` (appending) instead of stderr; nil returns to stderr. A file that
    /// replaces another takes over its descriptor number (dup3), so a thread that is writing a line
    /// meanwhile writes it to one file or the other, never to a closed or reused descriptor.
    public func redirect(to path: String?) throws(DaemonError) {
        var fd: Int32 = 2
        if let path {
            fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o640)
            guard fd >= 0 else { throw .system("open log file \(path)", errno) }
        }
        self.path.withLock { $0 = path }
        let current = fdValue.load(ordering: .acquiring)
        if current != 2, fd != 2 {
            guard cssd_dup_cloexec(fd, current) >= 0 else {
                let code = errno
                close(fd)
                throw .system("reopen log file \(path ?? "")", code)
            }
            close(fd)
            return
        }
        let old = fdValue.exchange(fd, ordering: .acquiringAndReleasing)
        if old != 2 { close(old) }
    }

    /// The master's SIGUSR1: reopens the log file (after logrotate moved it) and tells every worker
    /// to do the same before its next line; on stderr it does nothing.
    public func reopen() throws(DaemonError) {
        try reopenFile()
        if let generation { seenGeneration.store(cssd_atomic_add64(generation, 1), ordering: .relaxed) }
    }

    private func reopenFile() throws(DaemonError) {
        if let path = path.withLock({ $0 }) { try redirect(to: path) }
    }

    static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var parts = tm()
        var seconds = now.tv_sec
        gmtime_r(&seconds, &parts)
        func pad(_ value: Int32, _ width: Int = 2) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1))-\(pad(parts.tm_mday))T"
            + "\(pad(parts.tm_hour)):\(pad(parts.tm_min)):\(pad(parts.tm_sec)).\(pad(Int32(now.tv_nsec / 1_000_000), 3))Z"
    }
}

/// Shorthand for the shared logger.
let log = Logger.shared
