// The metrics process: a child of the master, as the workers' user without capabilities, that
// serves /metrics from the counters it inherited, so that the master never touches a client.
#if canImport(Glibc)
import Glibc
#endif
import CSocketServerShims
import SocketServer
import Synchronization

/// The eventfd TERM writes to, so that the poll loop wakes at once (-1 until it exists).
private let stopWake = Atomic<Int32>(-1)
private let stopRequested = Atomic<Bool>(false)

enum MetricsProcess {
    /// The supervisor's name for the metrics process: its demand and its record in the worker
    /// table. No service can be called this (a section name cannot hold brackets).
    static let recordName = "[metrics]"

    /// Runs in the child after fork and never returns, as a worker does: it becomes `credentials`
    /// (nil: keeps the master's user) without any capability, follows log reopening on
    /// `logChannel`, marks its scoreboard slot ready and serves until TERM.
    static func run(socket: Socket, source: MetricsSource, generation: Int, masterPID: pid_t, credentials: Credentials?,
                    logChannel: Int32?, signalMask: sigset_t, scoreboard: Scoreboard, slot: Int?) -> Never {
        do {
            try Credentials.apply(credentials)
        } catch {
            log.error("metrics process cannot start: "
                      + "\(credentials.map { "cannot become \($0)" } ?? "cannot drop its capabilities"): \(error)")
            _exit(WorkerProcess.startupFailure)
        }
        if let logChannel { Logger.shared.receiveReopenedLog(on: logChannel) }
        _ = cssd_set_parent_death_signal(SIGTERM)
        if getppid() != masterPID { _exit(0) }
        _ = setpgid(0, 0)
        ProcessTitle.set(ProcessTitle.metrics(generation: generation))
        let wake = cssd_eventfd()
        guard wake >= 0 else {
            log.error("metrics process cannot start: eventfd: \(Errno(rawValue: errno))")
            _exit(WorkerProcess.startupFailure)
        }
        installSignals(wake: wake)
        runAfterFork {
            var mask = signalMask
            pthread_sigmask(SIG_SETMASK, &mask, nil)
            try? socket.setNonBlockingFlag(true)  // accepts never wait: TERM must be seen at once
            if let slot { scoreboard.markReady(slot: slot) }
            return MetricsServer(listener: socket, source: source, wake: wake)
                .run(stopping: { stopRequested.load(ordering: .sequentiallyConsistent) })
        }
    }

    /// TERM: stop accepting, answer the connections open, exit 0. INT/QUIT: leave now. The
    /// master's other signals are ignored, as a worker ignores them.
    private static func installSignals(wake: Int32) {
        // Initialised now: a lazy initialisation interrupted by the handler could never finish in it.
        stopWake.store(wake, ordering: .sequentiallyConsistent)
        _ = stopRequested.load(ordering: .relaxed)
        signal(SIGTERM) { _ in
            let saved = errno
            stopRequested.store(true, ordering: .sequentiallyConsistent)
            var one: UInt64 = 1
            _ = write(stopWake.load(ordering: .sequentiallyConsistent), &one, 8)
            errno = saved
        }
        signal(SIGINT) { _ in _exit(0) }
        signal(SIGQUIT) { _ in _exit(0) }
        for ignored in [SIGHUP, SIGUSR1, SIGUSR2, SIGTTIN, SIGTTOU] + SignalPipe.ignoredByMaster + SignalPipe.discarded {
            signal(ignored, SIG_IGN)
        }
        signal(SIGCHLD, SIG_DFL)
    }
}
