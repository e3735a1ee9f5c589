// Blocking every signal across a fork (or an exec), so that no signal reaches the new image or the
// child while it still runs the parent's handlers.
#if canImport(Glibc)
import Glibc
#endif

/// Runs `body` with every signal blocked for the process and restores the mask it had after,
/// keeping the errno `body` left. `body` gets that previous mask.
func withAllSignalsBlocked<Result>(_ body: (sigset_t) -> Result) -> Result {
    var all = sigset_t()
    var previous = sigset_t()
    sigfillset(&all)
    sigprocmask(SIG_BLOCK, &all, &previous)
    let result = body(previous)
    let saved = errno
    sigprocmask(SIG_SETMASK, &previous, nil)
    errno = saved
    return result
}

/// fork(2) with every signal blocked across it, so that none reaches the child before it has its
/// own handlers. The child runs `child` (which never returns) with every signal still blocked
/// and the parent's mask as its argument, to restore once its handlers are in place. Returns the
/// pid, or -1 with errno.
func forkWithSignalsBlocked(child: (sigset_t) -> Never) -> pid_t {
    withAllSignalsBlocked { previous in
        let pid = fork()
        if pid == 0 { child(previous) }
        return pid
    }
}

/// Unblocks every signal (a child that must not keep even the signals its parent holds).
func unblockAllSignals() {
    var none = sigset_t()
    sigemptyset(&none)
    sigprocmask(SIG_SETMASK, &none, nil)
}
