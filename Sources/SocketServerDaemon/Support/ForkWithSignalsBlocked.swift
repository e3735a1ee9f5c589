// fork(2) for the master's children (workers, checks): no signal reaches a child before it has
// its own handlers.
#if canImport(Glibc)
import Glibc
#endif

/// fork(2) with every signal blocked across it, so that none reaches the child before it has its
/// own handlers. The child runs `child` (which never returns) with every signal still blocked
/// and the parent's mask as its argument, to restore once its handlers are in place. Returns the
/// pid, or -1 with errno.
enum ForkWithSignalsBlocked {
    static func fork(child: (sigset_t) -> Never) -> pid_t {
        var all = sigset_t()
        var previous = sigset_t()
        sigfillset(&all)
        sigprocmask(SIG_BLOCK, &all, &previous)
        let pid = Glibc.fork()
        if pid == 0 { child(previous) }
        let saved = errno
        sigprocmask(SIG_SETMASK, &previous, nil)
        errno = saved
        return pid
    }

    static func unblockAll() {
        var none = sigset_t()
        sigemptyset(&none)
        sigprocmask(SIG_SETMASK, &none, nil)
    }
}
