// Running the rest of a forked child on a thread of its own (runAfterFork).
#if canImport(Glibc)
import Glibc
#endif

/// 1 in a process whose forking thread `runAfterFork` parked: that thread holds no lock, so
/// `ForkingMixIn` does not count it when it warns about forking a multithreaded process.
nonisolated(unsafe) var parkedForkingThreads: Int32 = 0

/// Runs the rest of a forked child on a new thread and ends the process with the status `body`
/// returns. The thread that forked waits meanwhile, with every signal blocked, and calls `_exit`
/// once `body` is done (`body` may also end the process itself). If no thread can be started,
/// runs `body` where it is.
///
/// Why: on Linux the Swift runtime's locks (`swift::once`, metadata caches) and
/// `Synchronization.Mutex` are priority-inheritance futexes holding their owner's thread id, which
/// each thread caches in thread-local storage. The forking thread carries its parent-side id into
/// the child. If it holds such a lock while another thread of the child waits for it, the kernel
/// refuses the unlock (EPERM: the id in the lock is not the caller's) and both threads spin
/// forever; ThreadSanitizer found a daemon worker livelocked this way in `swift_once`. Threads
/// created in the child cache their own, correct ids, so the waiting thread is the only one that
/// could take a lock under a wrong id, and it takes none while another thread runs. A child that
/// never has a second thread (ForkingMixIn's request children, as a rule) does not need this.
public func runAfterFork(_ body: @escaping @Sendable () -> Int32) -> Never {
    var all = sigset_t()
    sigfillset(&all)
    var previous = sigset_t()
    pthread_sigmask(SIG_BLOCK, &all, &previous)  // signals go to the threads that run Swift code
    let mask = previous
    let status = ExitStatus()
    parkedForkingThreads = 1
    guard let thread = try? PosixThread.start({
        var mask = mask
        pthread_sigmask(SIG_SETMASK, &mask, nil)
        status.value = body()
    }) else {
        parkedForkingThreads = 0
        pthread_sigmask(SIG_SETMASK, &previous, nil)
        _exit(body())
    }
    thread.join()
    _exit(status.value)
}

private final class ExitStatus: @unchecked Sendable {
    var value: Int32 = 1
}
