// A child the master waits for through a pipe (a config check, the new binary's check): its pid and
// the read end, read without blocking from the master's poll, then reaped.
#if canImport(Glibc)
import Glibc
#endif
import SocketServer

/// The pipe's read end must be non-blocking. `pid` and `descriptor` are -1 once reaped.
struct ChildPipe {
    private(set) var pid: pid_t = -1
    private(set) var descriptor: Int32 = -1

    init() {}

    init(pid: pid_t, descriptor: Int32) {
        self.pid = pid
        self.descriptor = descriptor
        _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) | O_NONBLOCK)
    }

    /// Appends what is there to read to `bytes` (up to `limit` kept); true at end of file (or a
    /// read error: the child is gone for us), false when the pipe is merely empty.
    func readAvailable(into bytes: inout [UInt8], limit: Int = .max) -> Bool {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            do {
                let count = try retryingOnInterrupt { read(descriptor, &buffer, buffer.count) }
                if count == 0 { return true }
                if bytes.count < limit { bytes += buffer[..<count] }
            } catch {
                return error != .wouldBlock
            }
        }
    }

    /// Closes the pipe and waits for the child; returns its wait status.
    @discardableResult
    mutating func reap() -> Int32 {
        if descriptor >= 0 { close(descriptor) }
        descriptor = -1
        var status: Int32 = 0
        if pid > 0 { _ = try? retryingOnInterrupt { waitpid(pid, &status, 0) } }
        pid = -1
        return status
    }

    /// Kills the child, then reaps it.
    mutating func kill() {
        if pid > 0 { Glibc.kill(pid, SIGKILL) }
        reap()
    }
}
