// The access log: one logfmt line per connection (or datagram) when it ends, buffered per worker
// and written whole, so a request never waits for the file and workers' lines never interleave.
#if canImport(Glibc)
import Glibc
#endif
import CSocketServerShims
import SocketServer
import Synchronization

/// Where a worker's access lines go. Only the master opens the file (`open`, on start, reload and
/// SIGUSR1); workers inherit its descriptor across fork, and take a new one from their channel
/// with the log's (see LogReopen.swift). A request's line goes into a buffer in memory
/// (`append`); the worker's loop writes what is buffered (`flushIfDue`) within a second, as
/// whole lines in one write(2) on an O_APPEND descriptor (to a pipe or socket, in writes of at
/// most PIPE_BUF at line ends), and everything when the worker exits. A request child
/// (concurrency = fork) writes its one line itself (`writeNow`) before it exits.
final class AccessLog: @unchecked Sendable {
    static let shared = AccessLog()

    /// Pending lines are written once the oldest is this old, or the loop was idle this long.
    static let flushAfter: UInt64 = 500_000_000
    /// …or once this many bytes are pending.
    static let flushSize = 64 * 1024
    /// Beyond this many pending bytes lines are dropped (and counted) rather than kept.
    static let pendingLimit = 8 * 1024 * 1024

    private struct Pending {
        var bytes: [UInt8] = []
        /// When the oldest pending line came (monotonic ns).
        var since: UInt64 = 0
        /// When the loop last asked to flush (monotonic ns).
        var lastCall: UInt64 = 0
        var dropped = 0
    }

    /// The descriptor lines go to; -1 when the access log is off.
    private let output = Atomic<Int32>(-1)
    /// Whether `output` is a regular file (a write of any size lands whole) or not (a pipe, a socket).
    private let outputIsFile = Atomic<Bool>(true)
    private let pending = PosixMutex(Pending())
    /// Held while writing to, or replacing, `output`; request threads never take it.
    private let writing = PosixMutex(WriteState())
    /// The master's target, for SIGUSR1.
    private let target = Mutex<AccessLogTarget>(.off)

    private struct WriteState {
        var lastWarning: UInt64 = 0
        /// The buffer pending lines are swapped into for writing (its capacity is kept).
        var spare: [UInt8] = []
    }

    init() {}

    /// True when lines are wanted (a request builds its line only then).
    var isOn: Bool { output.load(ordering: .relaxed) >= 0 }

    /// The descriptor the master passes to workers; -1 when off.
    var descriptor: Int32 { output.load(ordering: .acquiring) }

    // MARK: Worker

    /// Buffers one line; never writes.
    func append(_ line: AccessLine) {
        pending.withLock { pending in
            guard Self.makeRoom(&pending) else { return }
            line.write(into: &pending.bytes)
        }
    }

    /// Buffers text made of whole lines; never writes.
    func append(_ text: String) {
        pending.withLock { pending in
            guard Self.makeRoom(&pending) else { return }
            pending.bytes.append(contentsOf: text.utf8)
        }
    }

    /// Whether another line may wait (else it is counted as dropped); notes when the first came.
    private static func makeRoom(_ pending: inout Pending) -> Bool {
        if pending.bytes.count >= pendingLimit {
            pending.dropped += 1
            return false
        }
        if pending.bytes.isEmpty { pending.since = monotonicNanoseconds() }
        return true
    }

    /// From the worker's loop: writes what is pending once the oldest line is half a second old,
    /// a lot is pending, or the loop was idle (it runs at least once a second).
    func flushIfDue() {
        let now = monotonicNanoseconds()
        let due = pending.withLock { pending -> Bool in
            defer { pending.lastCall = now }
            guard !pending.bytes.isEmpty || pending.dropped > 0 else { return false }
            return pending.bytes.count >= Self.flushSize || now &- pending.since >= Self.flushAfter
                || now &- pending.lastCall >= Self.flushAfter
        }
        if due { flush() }
    }

    /// Writes everything pending now (the worker's loop, and its exit).
    func flush() {
        // A rotated log's new descriptor comes with the log's: take it before writing.
        Logger.shared.collectReopenedLog()
        writing.withLock { state in
            let dropped = pending.withLock { pending -> Int in
                swap(&state.spare, &pending.bytes)
                defer { pending.dropped = 0 }
                return pending.dropped
            }
            write(state.spare, state: &state)
            if state.spare.capacity > 1 << 20 { state.spare = [] } else { state.spare.removeAll(keepingCapacity: true) }
            if dropped > 0 { warn("\(dropped) line(s) dropped: more than \(Self.pendingLimit) bytes were waiting", state: &state) }
        }
    }

    /// A request child's lines, or the master's: written at once, whole. The caller is the only
    /// thread of its process that writes here.
    func writeNow(_ lines: [AccessLine]) {
        var bytes: [UInt8] = []
        for line in lines { line.write(into: &bytes) }
        var state = WriteState()
        write(bytes, state: &state)
    }

    /// `writeNow` for text made of whole lines.
    func writeNow(_ text: String) {
        var state = WriteState()
        write(Array(text.utf8), state: &state)
    }

    private func write(_ bytes: [UInt8], state: inout WriteState) {
        let fd = output.load(ordering: .acquiring)
        guard fd >= 0, !bytes.isEmpty else { return }
        let failure: Errno?
        if outputIsFile.load(ordering: .relaxed) {
            failure = bytes.withUnsafeBytes { raw in Self.attempt { () throws(Errno) in try writeAll(fd, raw) } }
        } else {
            failure = Self.writeInPipeChunks(fd, bytes)
        }
        if let failure { warn("cannot write: \(failure); lines lost", state: &state) }
    }

    /// Writes of at most PIPE_BUF bytes, each ending at a line's end (a line longer than that on its own).
    private static func writeInPipeChunks(_ fd: Int32, _ bytes: [UInt8]) -> Errno? {
        bytes.withUnsafeBytes { raw -> Errno? in
            var start = 0
            while start < raw.count {
                var end = min(raw.count, start + Int(PIPE_BUF))
                if end < raw.count {
                    // Back to the last newline in the chunk; forward to the next if there is none.
                    var cut = end
                    while cut > start && raw[cut - 1] != UInt8(ascii: "\n") { cut -= 1 }
                    if cut == start {
                        cut = end
                        while cut < raw.count && raw[cut - 1] != UInt8(ascii: "\n") { cut += 1 }
                    }
                    end = cut
                }
                let chunk = UnsafeRawBufferPointer(rebasing: raw[start..<end])
                if let failure = attempt({ () throws(Errno) in try writeAll(fd, chunk) }) { return failure }
                start = end
            }
            return nil
        }
    }

    private static func attempt(_ body: () throws(Errno) -> Void) -> Errno? {
        do { try body() } catch { return error }
        return nil
    }

    /// At most one warning per 10 s per process.
    private func warn(_ message: String, state: inout WriteState) {
        let now = monotonicNanoseconds()
        guard state.lastWarning == 0 || now &- state.lastWarning >= 10_000_000_000 else { return }
        state.lastWarning = now
        log.warning("access log: \(message)")
    }

    /// Makes `fd` the output (nil: off). Once the log has a descriptor, a later one takes over its
    /// number (dup3), so a write under way goes to one file or the other, never to a closed one.
    func install(_ fd: Int32?) {
        writing.withLock { _ in
            let current = output.load(ordering: .acquiring)
            guard let fd else {
                if current >= 0 {
                    output.store(-1, ordering: .releasing)
                    close(current)
                }
                return
            }
            var info = stat()
            outputIsFile.store(fstat(fd, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG, ordering: .relaxed)
            if current < 0 {
                output.store(fd, ordering: .releasing)
            } else if fd != current {
                _ = cssd_dup_cloexec(fd, current)
                close(fd)
            }
        }
    }

    // MARK: Master

    /// Opens `target` (start-up, a reload that changes it): the file appended to (0640), a copy
    /// of stderr, or nothing. Workers forked from now on inherit it; running ones are sent it.
    func open(_ target: AccessLogTarget) throws(DaemonError) {
        switch target {
        case .off:
            install(nil)
        case .stderr:
            let fd = fcntl(2, F_DUPFD_CLOEXEC, 3)
            guard fd >= 0 else { throw .system("access log: duplicating stderr", errno) }
            install(fd)
        case .file(let path):
            let fd = Glibc.open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o640)
            guard fd >= 0 else { throw .system("open access log \(path)", errno) }
            install(fd)
        }
        self.target.withLock { $0 = target }
    }

    /// SIGUSR1: opens the file again (logrotate moved it); nothing for stderr or off.
    func reopen() throws(DaemonError) {
        let target = self.target.withLock { $0 }
        if case .file = target { try open(target) }
    }

    /// The target the master opened.
    var currentTarget: AccessLogTarget { target.withLock { $0 } }
}
