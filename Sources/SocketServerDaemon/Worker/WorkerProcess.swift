// A worker: a forked child of the master that serves one service on the inherited listening socket.
#if canImport(Glibc)
import Glibc
#endif
import CSocketServerShims
import SocketServer
import SocketServerHandlers
import Synchronization

/// The server a TERM should stop (its address; 0 until it exists), and whether a TERM came. The
/// handler sets the flag, then reads the server; the worker stores the server, then reads the flag:
/// with sequentially consistent atomics at least one of them sees the other, so no TERM is lost.
private let stoppableServer = Atomic<UInt>(0)
private let stopRequested = Atomic<Bool>(false)

enum WorkerProcess {
    /// Exit status of a worker that could not start (its user, its handler's settings, its plugin):
    /// the master backs off.
    static let startupFailure: Int32 = 3

    /// Runs in the child after fork and never returns. The master forks with every signal blocked;
    /// the worker installs its own handlers and then restores `signalMask`. It first becomes
    /// `credentials` (nil: keeps the master's user) without any capability, and takes new log
    /// descriptors from `logChannel` (its end of the master's channel).
    static func run(
        service: ServiceConfig, generation: Int, socket: Socket, descriptor: HandlerDescriptor, masterPID: pid_t,
        credentials: Credentials?, logChannel: Int32?, signalMask: sigset_t,
        scoreboard: Scoreboard? = nil, slot: Int? = nil, counters: ServiceCounters? = nil, gracefulTimeout: Duration = DaemonKeys.gracefulTimeout.default
    ) -> Never {
        // First, while this is the only thread and before any handler, plugin or program is loaded.
        do {
            try Credentials.apply(credentials)
        } catch {
            log.error("service \(service.name): worker cannot start: "
                      + "\(credentials.map { "cannot become \($0)" } ?? "cannot drop its capabilities"): \(error)")
            _exit(startupFailure)
        }
        if let logChannel { Logger.shared.receiveReopenedLog(on: logChannel) }
        // If the master dies, even by SIGKILL, the kernel tells us: no orphan keeps the port.
        _ = cssd_set_parent_death_signal(SIGTERM)
        if getppid() != masterPID { _exit(0) }
        // Own process group: the master can kill a worker together with its request children.
        _ = setpgid(0, 0)
        // What its requests' programs leave behind is re-parented here, to be killed and reaped.
        Containment.becomeSubreaper()
        ProcessTitle.set(ProcessTitle.worker(service: service.name, generation: generation))
        installSignals()
        // The rest runs on a new thread: this one would take the Swift runtime's locks under the
        // master's thread id (see runAfterFork), and a worker has threads.
        runAfterFork {
            let status = serve(service: service, socket: socket, descriptor: descriptor, signalMask: signalMask,
                               scoreboard: scoreboard, slot: slot, counters: counters, stopping: {
                // Without a master nobody kills this worker at graceful_timeout: it does so itself.
                if getppid() != masterPID { armOrphanDeadline(service: service, after: gracefulTimeout) }
            })
            return status
        }
    }

    /// The worker after `run`'s setup, on its own thread with the master's signal mask restored;
    /// returns the worker's exit status.
    private static func serve(
        service: ServiceConfig, socket: Socket, descriptor: HandlerDescriptor, signalMask: sigset_t,
        scoreboard: Scoreboard?, slot: Int?, counters: ServiceCounters?, stopping: () -> Void
    ) -> Int32 {
        var mask = signalMask
        pthread_sigmask(SIG_SETMASK, &mask, nil)

        let served: HandlerDescriptor
        do {
            served = try PluginWorker.descriptor(for: service, default: descriptor)  // PLUGIN.HANDLER: load it here
        } catch {
            log.error("service \(service.name): \(error); worker cannot start")
            return startupFailure
        }
        let problems = served.validate(service.options)
        if !problems.isEmpty {
            for problem in problems { log.error("service \(service.name): \(problem.key): \(problem.problem); worker cannot start") }
            return startupFailure
        }
        let settings: (any Sendable)?
        do {
            settings = try served.settings?(HandlerConfiguration(options: service.options))
        } catch {
            log.error("service \(service.name): \(error); worker cannot start")
            return startupFailure
        }
        let policy = ServicePolicy(service: service, scoreboard: scoreboard, slot: slot, counters: counters, handlerSettings: settings)
        let server: BaseServer
        do {
            server = try makeServer(service: service, socket: socket, descriptor: served, policy: policy)
        } catch {
            log.error("service \(service.name): worker cannot start: \(error)")
            return startupFailure
        }
        stoppableServer.store(UInt(bitPattern: Unmanaged.passRetained(server).toOpaque()), ordering: .sequentiallyConsistent)
        if stopRequested.load(ordering: .sequentiallyConsistent) { server.requestShutdown() }
        log.debug("service \(service.name): worker \(getpid()) serving \(service.listen)")
        if let scoreboard, let slot { scoreboard.markReady(slot: slot) }  // the old generation may retire now
        do {
            try server.serveForever(pollInterval: .seconds(1))
        } catch {
            log.error("service \(service.name): worker loop failed: \(error)")
            return 1
        }
        stopping()
        server.serverClose()  // threads joined, children reaped: in-flight requests are done
        Containment.killAllChildren()  // nothing a request started outlives the worker
        AccessLog.shared.flush()
        return 0
    }

    static func makeServer(service: ServiceConfig, socket: Socket, descriptor: HandlerDescriptor, policy: ServicePolicy) throws -> BaseServer {
        let concurrency: any RequestConcurrency
        switch service.concurrency {
        case .sync: concurrency = SynchronousRequests()
        case .threads:
            // A worker whose threads are all busy waits a little before accepting, so that another
            // worker with an idle thread takes the connection; then it accepts (and queues) as before.
            concurrency = ThreadPoolMixIn(threads: service.threads, queueLimit: queueLimit(service),
                                          acceptWait: service.listen.isDatagram ? .zero : .milliseconds(50))
        case .fork:
            let forking = ForkingMixIn(maxChildren: service.threads)
            forking.childExited = { pid, status in policy.requestChildExited(pid, status: status) }
            forking.childStarted = { pid, request in policy.requestChildStarted(pid, request) }
            concurrency = forking
        case .events:
            // The config check refuses handlers without an event-driven variant and datagram listeners.
            guard let events = descriptor.events, !service.listen.isDatagram else {
                throw DaemonError.message("handler \(descriptor.name) cannot serve concurrency = events")
            }
            let wanted = service.threads * 32
            let descriptors = raiseDescriptorLimit()
            let limit = eventConnectionLimit(wanted: wanted, descriptorLimit: descriptors)
            if limit < wanted {
                log.info("service \(service.name): events connections capped at \(limit), not \(wanted) "
                    + "(descriptor limit RLIMIT_NOFILE \(descriptors), \(descriptorReserve) kept for the worker)")
            }
            concurrency = policy.eventLoop(handler: events, maxConnections: limit)
        }
        let server: TCPServer
        if service.listen.isDatagram {
            guard let handler = descriptor.datagram else { throw DaemonError.message("handler \(descriptor.name) cannot serve datagrams") }
            server = try UDPServer(socket: socket, handler, concurrency: concurrency)
        } else {
            guard let handler = descriptor.stream else { throw DaemonError.message("handler \(descriptor.name) cannot serve streams") }
            server = try TCPServer(socket: socket, handler, concurrency: concurrency)
        }
        try policy.install(on: server)
        if service.concurrency == .fork, !service.listen.isDatagram { server.primeForkedRequests() }
        return server
    }

    /// With `concurrency = threads`, the requests that may wait for a thread.
    static func queueLimit(_ service: ServiceConfig) -> Int { max(64, service.threads * 4) }

    /// Descriptors kept for the worker itself (listener, epoll, logs, plugins) under the events cap.
    static let descriptorReserve = 64

    /// With `concurrency = events`, the connections one worker keeps open at once: 32 per
    /// `threads` (`wanted`; 1024 with the default 32), but within the descriptor limit, past which
    /// accept would fail with EMFILE before the cap refuses anyone. Beyond it a new connection is
    /// closed unserved.
    static func eventConnectionLimit(wanted: Int, descriptorLimit: UInt64) -> Int {
        max(1, min(wanted, Int(clamping: descriptorLimit) - descriptorReserve))
    }

    /// Raises this worker's soft RLIMIT_NOFILE to the hard limit and returns the soft limit in
    /// force: the usual 1024 is below what `concurrency = events` keeps open. Only events workers
    /// do it: programs that `exec` starts inherit the limit, and some break above 1024 (select)
    /// or close every fd up to it.
    static func raiseDescriptorLimit() -> UInt64 {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return .max }
        guard limit.rlim_cur < limit.rlim_max else { return UInt64(limit.rlim_cur) }
        let before = limit.rlim_cur
        limit.rlim_cur = limit.rlim_max
        guard setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return UInt64(before) }
        log.debug("raised the descriptor limit (RLIMIT_NOFILE) from \(before) to \(limit.rlim_cur)")
        return UInt64(limit.rlim_cur)
    }

    /// An orphaned worker (its master died, even by SIGKILL: the kernel sends TERM) has stopped
    /// accepting; it gives its requests `limit` to finish, then kills itself with its process group
    /// (per-request children) and the programs its requests started.
    static func armOrphanDeadline(service: ServiceConfig, after limit: Duration) {
        log.warning("service \(service.name): worker \(getpid()): the master is gone; finishing in-flight requests "
                    + "for up to \(limit), then exiting")
        _ = try? PosixThread.start(detached: true) {
            sleep(for: limit)
            log.warning("service \(service.name): worker \(getpid()): requests still running after \(limit) without a master; exiting")
            AccessLog.shared.flush()
            kill(-getpgrp(), SIGKILL)
            _exit(0)
        }
    }

    /// TERM: stop accepting, finish in-flight requests, exit 0. INT/QUIT: leave now.
    /// The master's other signals mean nothing to a worker, nor do those the master ignores: all
    /// are ignored (SIG_IGN), so none kills it. Programs it starts get every signal at its default
    /// (ExecProcess spawns with POSIX_SPAWN_SETSIGDEF).
    static func installSignals() {
        // Initialise the globals the TERM handler reads now: a lazy initialisation (swift_once)
        // that a signal interrupted could never finish inside the handler.
        _ = stopRequested.load(ordering: .relaxed)
        _ = stoppableServer.load(ordering: .relaxed)
        signal(SIGTERM) { _ in
            stopRequested.store(true, ordering: .sequentiallyConsistent)
            if let server = UnsafeMutableRawPointer(bitPattern: stoppableServer.load(ordering: .sequentiallyConsistent)) {
                Unmanaged<BaseServer>.fromOpaque(server).takeUnretainedValue().requestShutdown()
            }
        }
        signal(SIGINT) { _ in _exit(0) }
        signal(SIGQUIT) { _ in _exit(0) }
        // (USR1: the master sends workers the reopened log over their channel; see LogReopen.swift.)
        for ignored in [SIGHUP, SIGUSR1, SIGUSR2, SIGTTIN, SIGTTOU] + SignalPipe.ignoredByMaster + SignalPipe.discarded {
            signal(ignored, SIG_IGN)
        }
        signal(SIGCHLD, SIG_DFL)
    }
}
