// The daemon's log: one line per event on stderr, with level and pid.
#if canImport(Glibc)
import Glibc
#endif
import CSocketServerShims
import SocketServer
import Synchronization

/// Writes log lines to standard error (or a log file): `2026-11-23T11:30:00Z [1234] info: message`.
/// Under systemd (JOURNAL_STREAM set) the timestamp is left to the journal. Safe from any thread,
/// and after fork (each line is one write(2)).
public final class Logger: Sendable {
    public static let shared = Logger()

    // Atomics, not locks: workers fork per request, and a forked child must be able to log even if
    // another thread of its parent was in the middle of a log call.
    private let levelValue = Atomic<Int>(LogLevel.info.rawValue)
    let fdValue = Atomic<Int32>(2)
    /// The address of a page shared with every worker (a memfd mapping, so that a master that
    /// executes a new binary can map it again): how many times the master sent workers a new log
    /// descriptor. See LogReopen.swift.
    let sharedPage = Atomic<UInt>(0)
    let sharedPageFD = Atomic<Int32>(-1)
    /// The count this process's descriptor is from.
    let seenGeneration = Atomic<Int64>(0)
    /// In a worker: its end of the master's descriptor channel (-1: none), and the pid that may
    /// read it (the worker, not the request children it forks).
    let channel = Atomic<Int32>(-1)
    let channelOwner = Atomic<Int32>(0)
    /// Set while one of the worker's threads takes a descriptor from the channel.
    let collecting = Atomic<Bool>(false)
    /// The log file's path; only the master sets it (start-up, reload) and opens it.
    let path = Mutex<String?>(nil)
    private let timestamps: Bool

    init() {
        timestamps = getenv("JOURNAL_STREAM") == nil
        let (fd, page) = Logger.makeSharedPage()
        sharedPageFD.store(fd, ordering: .relaxed)
        sharedPage.store(page, ordering: .relaxed)
    }

    public var level: LogLevel {
        get { LogLevel(rawValue: levelValue.load(ordering: .relaxed)) ?? .info }
        set { levelValue.store(newValue.rawValue, ordering: .relaxed) }
    }

    /// True if a message at `level` would be written (check before building costly messages).
    public func enabled(_ level: LogLevel) -> Bool { level >= self.level }

    public func log(_ level: LogLevel, _ message: String) {
        guard enabled(level) else { return }
        collectReopenedLog()
        var line = ""
        if timestamps { line += Logger.timestamp() + " " }
        line += "[\(getpid())] \(level): \(message)\n"
        write(line: line)
    }

    func write(line: String) {
        try? writeAll(fdValue.load(ordering: .acquiring), Array(line.utf8))
    }

    public func debug(_ message: @autoclosure () -> String) { if enabled(.debug) { log(.debug, message()) } }
    public func info(_ message: String) { log(.info, message) }
    public func warning(_ message: String) { log(.warning, message) }
    public func error(_ message: String) { log(.error, message) }

    /// Sends the log to `path` (appending) instead of stderr; nil returns to stderr. Only the
    /// master opens log files; workers get the descriptor from it (`redirect(to:notifying:)`).
    public func redirect(to path: String?) throws(DaemonError) {
        var fd: Int32 = 2
        if let path {
            fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o640)
            guard fd >= 0 else { throw .system("open log file \(path)", errno) }
        }
        try install(fd)
        self.path.withLock { $0 = path }
    }

    /// Makes `fd` the log (and closes it, unless it is stderr). Once the log is a file, every later
    /// one takes over its descriptor number (dup3), so a thread that is writing a line meanwhile
    /// writes it to one file or the other, never to a closed or reused descriptor.
    func install(_ fd: Int32) throws(DaemonError) {
        let current = fdValue.load(ordering: .acquiring)
        if current == 2 {
            fdValue.store(fd, ordering: .releasing)
            return
        }
        let replaced = cssd_dup_cloexec(fd, current)
        let code = errno
        if fd != 2 { close(fd) }
        guard replaced >= 0 else { throw .system("replacing the log descriptor", code) }
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
