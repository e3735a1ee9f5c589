// The master (arbiter): binds, pre-forks workers, and supervises them from one loop.
#if canImport(Glibc)
import Glibc
#endif
import SocketServer
import SocketServerHandlers

/// The master process. Everything happens in `run()`'s loop: signals arrive as bytes on a pipe,
/// a running check (reload, upgrade) reports on its own descriptor, dead workers are reaped
/// (`collectChildren`), and the supervisor's decisions (start, retire, kill) are carried out.
/// The master never touches a client connection.
public final class Arbiter {
    let configPath: String
    let catalog: any HandlerCatalog
    let cpuCount: Int
    /// The running cycle: config, generation, sockets. Replaced whole by a reload or an upgrade.
    var cycle: Cycle
    var state: MasterState = .serving
    let listeners: Listeners
    var supervisor: Supervisor
    /// TTIN/TTOU adjustment to every service's worker count, until the next reload.
    var extraWorkers = 0
    /// Worker counts `scale` set, by service (before `extraWorkers`), until the next reload.
    var scaledWorkers: [String: Int] = [:]
    /// Services a reload removed whose workers still drain, with what `status` shows of them.
    var departedServices: [String: (config: ServiceConfig, counters: ServiceCounters?)] = [:]
    let signals: SignalPipe
    let masterPID = getpid()
    var pidFileWritten: String? = nil
    let notifier: ServiceManagerNotifier
    /// The last STATUS= sent, so that a change is sent once; when the last one went, and its
    /// part without the connection figures (a change there goes out at once).
    var lastStatus = ""
    var lastStatusSent = ContinuousClock.now
    var lastStatusShape = ""
    /// Shared with every worker: readiness and the requests they are running (request_timeout).
    let scoreboard: Scoreboard
    /// The account workers run as (nil: the master is not root and they keep its user).
    let credentials: Credentials?
    /// The daemon's figures the metrics process and `status` read (start time, reloads).
    let daemonCounters: DaemonCounters?
    /// The control socket (`status`, `scale`) and its connections.
    let control = ControlServer()
    /// `$RUNTIME_DIRECTORY` as the service manager set it, where the control socket goes by default.
    let runtimeDirectory = getenv("RUNTIME_DIRECTORY").map { String(cString: $0) }
    /// The group the control socket file is given: the workers' (the daemon's) group as root, else this process's.
    var controlGroup: gid_t { credentials?.gid ?? getegid() }
    /// The program workers' output and notifications (`handler = program`).
    let programs = ProgramWorkers()

    /// Binds what `config` needs (or takes the sockets systemd passed) and builds the first cycle.
    /// After a binary upgrade, `handover` brings the previous image's sockets, scoreboard and
    /// workers: the first cycle is then the next generation, and the workers its old one.
    public convenience init(configPath: String, config: DaemonConfig, catalog: any HandlerCatalog, cpuCount: Int) throws(DaemonError) {
        try self.init(configPath: configPath, config: config, catalog: catalog, cpuCount: cpuCount, handover: nil)
    }

    init(configPath: String, config: DaemonConfig, catalog: any HandlerCatalog, cpuCount: Int,
         handover: UpgradeHandover?) throws(DaemonError) {
        self.configPath = configPath
        self.catalog = catalog
        self.cpuCount = cpuCount
        signals = try SignalPipe(catching: [SIGHUP, SIGTERM, SIGINT, SIGQUIT, SIGTTIN, SIGTTOU, SIGUSR1, SIGUSR2, SIGCHLD] + SignalPipe.ignoredByMaster)
        if handover != nil {
            // The previous image blocked every signal across its exec; the pipe now takes them.
            unblockAllSignals()
        }
        let scoreboard = Scoreboard()
        self.scoreboard = scoreboard
        notifier = ServiceManagerNotifier.fromEnvironment()
        supervisor = Supervisor(now: .now)
        Logger.shared.level = config.logLevel
        if let path = config.logFile { try Logger.shared.redirect(to: path) }
        try AccessLog.shared.open(config.accessLog)
        daemonCounters = handover.flatMap { $0.daemonCounters >= 0 ? DaemonCounters.adopt($0.daemonCounters) : nil }
            ?? DaemonCounters.create()
        credentials = try Credentials.resolve(for: config)
        scoreboard.killsAs = credentials
        let listeners = Listeners()
        listeners.fileOwner = credentials
        self.listeners = listeners
        var previous: Cycle? = nil
        do {
            if let handover {
                previous = Arbiter.adopt(handover, config: config, listeners: listeners, scoreboard: scoreboard, supervisor: &supervisor)
                pidFileWritten = handover.pidFile
            } else {
                listeners.inherited = try SocketActivation.claim(for: ListenerWant.all(in: config))
            }
            cycle = try Cycle.build(after: previous, config: config, listeners: listeners)
        } catch {
            listeners.closeAll()
            throw error
        }
        listeners.commit(cycle.sockets)
        if let handover { programs.adopt(handover, workers: supervisor.workers) }
        do {
            control.serve(try ControlSocket.make(path: config.controlSocket.path(runtimeDirectory: runtimeDirectory),
                                                 handedOver: handover?.control, group: controlGroup))
        } catch {
            // After an upgrade the workers and clients are this image's already: it serves on.
            guard handover == nil else {
                log.error("\(error); status and scale cannot reach the daemon until a reload opens it")
                return
            }
            listeners.closeAll()
            throw error
        }
    }

    /// Starts the workers and supervises until stopped. Returns the exit status.
    public func run() -> Int32 {
        ProcessTitle.set(ProcessTitle.master)
        do {
            if let credentials { log.info("workers run as \(credentials)") }
            if let path = cycle.config.pidFile, path != pidFileWritten {
                try PidFile.write(path)
                if let old = pidFileWritten { PidFile.remove(old) }
                pidFileWritten = path
            }
        } catch {
            log.error("cannot start: \(error)")
            listeners.closeAll()
            return 1
        }
        Containment.becomeSubreaper()
        startGeneration(cycle)
        if supervisor.workers.records.values.contains(where: { $0.generation < cycle.generation }) {
            log.info("upgraded: socketserverd \(Daemon.version) (\(Daemon.executablePath)), generation \(cycle.generation); "
                     + "the previous generation retires once this one serves")
        }
        log.info("master \(masterPID) serving \(cycle.services.count) service(s): "
                 + cycle.services.map { "\($0.name) on \($0.listen)" }.joined(separator: ", "))
        lastStatus = statusLine()
        notifier.ready(status: lastStatus)
        loop()
        notifier.send("STOPPING=1")
        listeners.closeAll()
        control.closeAll()
        reapLastOrphans()
        if let path = pidFileWritten { PidFile.remove(path) }
        log.info("master \(masterPID) exiting")
        return 0
    }

    private func loop() {
        while true {
            waitForEvents()
            advancePendingCheck()
            // A stop goes first: a HUP queued before it would otherwise start a reload the stop makes moot.
            let arrived = signals.drain()
            for signal in arrived.filter(Self.isStop) + arrived.filter({ !Self.isStop($0) }) { handle(signal) }
            collectChildren()
            if arrived.contains(SIGCHLD) { killAdoptedOrphans() }
            control.serveReady(now: .now) { answerControl($0) }
            supervise(now: .now)
            updateWorkerGauges()
            notifier.watchdogIfDue(now: .now)  // a long graceful drain is still supervised
            if state.isStopping {
                if supervisor.workers.isEmpty { return }
            } else {
                sendStatusIfChanged()
            }
        }
    }

    /// After the last worker: what its killed programs left behind may still be on its way to this
    /// subreaper (re-parented as each parent dies); kill and reap it for up to a second.
    private func reapLastOrphans() {
        let deadline = ContinuousClock.now.advanced(by: .seconds(1))
        repeat {
            Containment.killAllChildren()
            var entry = pollfd(fd: signals.readEnd, events: Int16(POLLIN), revents: 0)
            _ = poll(&entry, 1, 20)  // woken by SIGCHLD when another one arrives
            _ = signals.drain()
        } while !Containment.children().isEmpty && ContinuousClock.now < deadline
    }

    /// Sleeps until a signal arrives, the pending check writes, the control socket has something
    /// to do, or the next timer (a kill deadline, a delayed start, the check's deadline, the
    /// watchdog, a control connection's deadline).
    private func waitForEvents() {
        let now = ContinuousClock.now
        var wake = now.advanced(by: .seconds(1))
        let pending = state.pending
        for instant in [supervisor.nextDue(now: now), notifier.nextWatchdog, pending?.deadline, control.nextDeadline].compactMap({ $0 }) {
            wake = min(wake, instant)
        }
        var entries = [pollfd(fd: signals.readEnd, events: Int16(POLLIN), revents: 0)]
        if let pending { entries.append(pollfd(fd: pending.descriptor, events: Int16(POLLIN), revents: 0)) }
        let controlEntries = entries.count
        entries += control.pollEntries()
        let programsFrom = entries.count
        entries += programs.pollEntries()
        if poll(&entries, nfds_t(entries.count), pollMilliseconds(now.duration(to: wake))) > 0 {
            control.noteReady(entries[controlEntries..<programsFrom])
        }
        programs.handle(entries[programsFrom...])
    }

    static func isStop(_ signal: Int32) -> Bool { [SIGTERM, SIGINT, SIGQUIT].contains(signal) }

    private func handle(_ signal: Int32) {
        // Once a stop began, nothing may start workers or bind sockets again: the stop would never end.
        if state.isStopping, [SIGHUP, SIGTTIN, SIGTTOU, SIGUSR2].contains(signal) {
            log.warning("\(signalName(signal)) ignored: the daemon is stopping")
            return
        }
        switch signal {
        case SIGHUP: requestReload()
        case SIGUSR2: requestUpgrade()
        case SIGTERM: beginStop(graceful: true, by: signal)
        case SIGINT, SIGQUIT: beginStop(graceful: false, by: signal)
        case SIGTTIN:
            extraWorkers += 1
            supervisor.adjust(demands: demands(extra: extraWorkers))
            log.info("SIGTTIN: one more worker per service (adjustment \(extraWorkers))")
        case SIGTTOU:
            if demands(extra: extraWorkers).allSatisfy({ $0.wanted > 1 }) {
                extraWorkers -= 1
                supervisor.adjust(demands: demands(extra: extraWorkers))
                log.info("SIGTTOU: one worker fewer per service (adjustment \(extraWorkers))")
            } else {
                log.warning("SIGTTOU ignored: a service is down to one worker")
            }
        case SIGUSR1: reopenLogs()
        default: signals.reportIgnored(signal)
        }
    }

    /// Makes `next` the running cycle's generation for the supervisor: its workers start on the
    /// next decision, and the older generations retire once the new one is ready.
    func startGeneration(_ next: Cycle) {
        daemonCounters?.set(.generation, Int64(next.generation))
        supervisor.begin(generation: next.generation, demands: next.demands(extra: extraWorkers, scaled: scaledWorkers),
                         fixed: next.metricsDemands,
                         gracefulTimeout: next.config.gracefulTimeout, now: .now)
        supervise(now: .now)
    }

    /// "socketserverd 1.0.0: 2 services, 4 workers, 12 active, 3401 served, generation 3": the
    /// generation last, where the package's maintainer script reads it.
    func statusLine() -> String { statusLine(figures: cycle.figures) }

    private func statusLine(figures: String) -> String {
        "socketserverd \(Daemon.version): \(cycle.summary(workers: supervisor.workers)), \(figures), generation \(cycle.generation)"
    }

    /// Sends STATUS= when it changed: at once when services, workers or the generation did, and
    /// at most once a second when only the connection figures did (they move with every request;
    /// the loop wakes at least once a second, so the last change is shown within two).
    private func sendStatusIfChanged() {
        guard case .serving = state else { return }
        let status = statusLine()
        guard status != lastStatus else { return }
        let now = ContinuousClock.now
        let shape = statusLine(figures: "")
        if shape == lastStatusShape, lastStatusSent.duration(to: now) < .seconds(1) { return }
        lastStatus = status
        lastStatusShape = shape
        lastStatusSent = now
        notifier.send("STATUS=\(status)")
    }

    /// Stops: graceful lets workers finish in-flight requests within graceful_timeout; fast
    /// interrupts them (SIGINT to each worker's process group) and kills what remains after a second.
    func beginStop(graceful: Bool, by signal: Int32) {
        let now = ContinuousClock.now
        if case .stopping = state {
            guard !graceful else { return }
            let deadline = now.advanced(by: .seconds(1))
            state = .stopping(graceful: false, deadline: deadline)
            supervisor.beginStop(deadline: deadline)
            supervisor.workers.hasten(to: deadline)
            for pid in supervisor.workers.records.keys { kill(-pid, SIGINT) }
            return
        }
        abandonPendingCheck(because: "\(signalName(signal)) arrived")
        log.info(graceful ? "SIGTERM: graceful stop (up to \(cycle.config.gracefulTimeout))" : "fast stop")
        notifier.send("STOPPING=1")
        let deadline = now.advanced(by: graceful ? cycle.config.gracefulTimeout : .seconds(1))
        state = .stopping(graceful: graceful, deadline: deadline)
        supervisor.beginStop(deadline: deadline)
        listeners.closeAll()
    }
}
