// This process's id without a system call: glibc's getpid() asks the kernel every time, and the
// scoreboard notes the owner of every request.
#if canImport(Glibc)
import Glibc
#endif

/// The id of the running process, kept up to date across fork(2) by an atfork handler.
enum CurrentProcess {
    nonisolated(unsafe) private static var cached: pid_t = 0
    /// Installs the handler once, the first time the id is asked for.
    private static let tracking: Void = {
        cached = getpid()
        pthread_atfork(nil, nil) { CurrentProcess.cached = getpid() }
    }()

    static var id: pid_t {
        tracking
        return cached
    }
}
