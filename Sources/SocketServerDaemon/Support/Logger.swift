// The daemon's log: one line per event on stderr, with level and pid.
#if canImport(Glibc)
import Glibc
#endif
import SocketServerHandlers
import Synchronization

/// Writes log lines to standard error (or a log file): `2026-11-23T11:30:00Z [1234] info: message`.
/// Under systemd (JOURNAL_STREAM set) the timestamp is left to the journal. Safe from any thread,
/// and after fork (each line is one write(2)).
public final class Logger: Sendable {
    public static let shared = Logger()

    private struct State {
        var level: LogLevel = .info
        var fd: Int32 = 2
        var path: String? = nil
    }
    private let state = Mutex(State())
    private let timestamps: Bool

    init() {
        timestamps = getenv("JOURNAL_STREAM") == nil
    }

    public var level: LogLevel {
        get { state.withLock { $0.level } }
        set { state.withLock { $0.level = newValue } }
    }

    /// True if a message at `level` would be written (check before building costly messages).
    public func enabled(_ level: LogLevel) -> Bool { level >= self.level }

    public func log(_ level: LogLevel, _ message: String) {
        guard enabled(level) else { return }
        var line = ""
        if timestamps { line += Logger.timestamp() + " " }
        line += "[\(getpid())] \(level): \(message)\n"
        let fd = state.withLock { $0.fd }
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

    /// Sends the log to `path` (appending) instead of stderr; nil returns to stderr.
    public func redirect(to path: String?) throws(DaemonError) {
        var fd: Int32 = 2
        if let path {
            fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o640)
            guard fd >= 0 else { throw .system("open log file \(path)", errno) }
        }
        let old = state.withLock { state -> Int32 in
            defer { state.fd = fd; state.path = path }
            return state.fd
        }
        if old != 2 { close(old) }
    }

    /// Reopens the log file (after logrotate moved it); on stderr it does nothing.
    public func reopen() throws(DaemonError) {
        let path = state.withLock { $0.path }
        if let path { try redirect(to: path) }
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
