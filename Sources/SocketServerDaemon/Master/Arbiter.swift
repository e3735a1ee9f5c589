// The master (arbiter): binds, pre-forks workers, and supervises them from one loop.
#if canImport(Glibc)
import Glibc
#endif
import SocketServer
import SocketServerHandlers

/// The master process. Everything happens in `run()`'s loop: signals arrive as bytes on a pipe,
/// dead workers are reaped (`collectChildren`), missing ones are started, late ones are killed.
/// The master never touches a client connection.
public final class Arbiter {
    let configPath: String
    let catalog: any HandlerCatalog
    let cpuCount: Int
    var config: DaemonConfig
    var generation = 1
    let listeners = Listeners()
    /// The sockets of the current generation's services.
    var sockets: [ListenAddress: Socket] = [:]
    var workers = WorkerTable()
    var backoff = CrashBackoff()
    /// TTIN/TTOU adjustment to every service's worker count, until the next reload.
    var extraWorkers = 0
    /// Set once a stop began; the loop ends when the last worker is gone.
    var stopDeadline: ContinuousClock.Instant? = nil
    let signals: SignalPipe
    /// Signals taken from the pipe while a reload checked plugins, for the loop to handle next.
    var deferredSignals: [Int32] = []
    let masterPID = getpid()
    var pidFileWritten: String? = nil
    let notifier = ServiceManagerNotifier.fromEnvironment()
    /// Shared with every worker: the requests they are running (for request_timeout).
    let scoreboard: Scoreboard
    /// The account workers run as (nil: the master is not root and they keep its user).
    var credentials: Credentials? = nil

    public init(configPath: String, config: DaemonConfig, catalog: any HandlerCatalog, cpuCount: Int) throws(DaemonError) {
        self.configPath = configPath
        self.config = config
        self.catalog = catalog
        self.cpuCount = cpuCount
        signals = try SignalPipe(catching: [SIGHUP, SIGTERM, SIGINT, SIGQUIT, SIGTTIN, SIGTTOU, SIGUSR1, SIGCHLD])
        scoreboard = try Scoreboard()
    }

    /// Binds, starts the workers and supervises until stopped. Returns the exit status.
    public func run() -> Int32 {
        Logger.shared.level = LogLevel(name: config.logLevel.rawValue) ?? .info
        do {
            if let path = config.logFile { try Logger.shared.redirect(to: path) }
            credentials = try Credentials.resolve(for: config)
            if let credentials { log.info("workers run as \(credentials)") }
            scoreboard.killsAs = credentials
            listeners.fileOwner = credentials
            listeners.inherited = try SocketActivation.claim(for: config.services)
            sockets = try listeners.open(for: config.services)
            listeners.commit(sockets)
            if let path = config.pidFile { try PidFile.write(path) ; pidFileWritten = path }
        } catch {
            log.error("cannot start: \(error)")
            listeners.closeAll()
            return 1
        }
        maintainWorkers()
        log.info("master \(masterPID) serving \(config.services.count) service(s): "
                 + config.services.map { "\($0.name) on \($0.listen)" }.joined(separator: ", "))
        notifier.ready(status: statusLine())
        loop()
        notifier.send("STOPPING=1")
        listeners.closeAll()
        if let path = pidFileWritten { PidFile.remove(path) }
        log.info("master \(masterPID) exiting")
        return 0
    }

    private func loop() {
        while true {
            _ = try? waitForEvents()
            // HUPs that queued up while the master was busy (a reload checks plugins in a child)
            // are one reload: each would read the same file again.
            // A stop goes first: a HUP queued before it would otherwise run a whole reload (and
            // its plugin check) first, and the stop makes the HUP moot.
            var reloaded = false
            let arrived = deferredSignals + signals.drain()
            deferredSignals = []
            let stops = arrived.filter(Self.isStop)
            for signal in stops + arrived.filter({ !Self.isStop($0) }) where !(signal == SIGHUP && reloaded) {
                if signal == SIGHUP { reloaded = true }
                handle(signal)
            }
            collectChildren()
            let now = ContinuousClock.now
            noticeSelfRetiringWorkers(at: now)
            killOverdue(at: now)
            killHungRequests()
            notifier.watchdogIfDue(now: now)  // a long graceful drain is still supervised
            if stopDeadline != nil {
                if workers.isEmpty { return }
                continue
            }
            maintainWorkers()
        }
    }

    /// Sleeps until a signal arrives or the next timer (a kill deadline, a delayed start, the watchdog).
    private func waitForEvents() throws {
        guard deferredSignals.isEmpty else { return }  // taken from the pipe during a reload
        let now = ContinuousClock.now
        var wake = now.advanced(by: .seconds(1))
        // While stopping nothing is started, so a pending restart must not wake the loop (it would
        // spin until the workers are gone).
        let nextStart = stopDeadline == nil ? backoff.nextStart : nil
        for instant in [workers.nextDeadline, nextStart, notifier.nextWatchdog].compactMap({ $0 }) {
            wake = min(wake, instant)
        }
        let timeout = max(.zero, now.duration(to: wake))
        var entry = pollfd(fd: signals.readEnd, events: Int16(POLLIN), revents: 0)
        _ = poll(&entry, 1, Int32(clamping: timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000 + 1))
    }

    static func isStop(_ signal: Int32) -> Bool { [SIGTERM, SIGINT, SIGQUIT].contains(signal) }

    private func handle(_ signal: Int32) {
        // Once a stop began, nothing may start workers or bind sockets again: the stop would never end.
        if stopDeadline != nil, [SIGHUP, SIGTTIN, SIGTTOU].contains(signal) {
            log.warning("\(signalName(signal)) ignored: the daemon is stopping")
            return
        }
        switch signal {
        case SIGHUP: reload()
        case SIGTERM: beginStop(graceful: true)
        case SIGINT, SIGQUIT: beginStop(graceful: false)
        case SIGTTIN:
            extraWorkers += 1
            log.info("SIGTTIN: one more worker per service (adjustment \(extraWorkers))")
        case SIGTTOU:
            if config.services.allSatisfy({ wantedWorkers($0) > 1 }) {
                extraWorkers -= 1
                log.info("SIGTTOU: one worker fewer per service (adjustment \(extraWorkers))")
            } else {
                log.warning("SIGTTOU ignored: a service is down to one worker")
            }
        case SIGUSR1:
            do {
                try Logger.shared.reopen(notifying: workers.logChannels)
                log.info("SIGUSR1: log reopened")
            } catch {
                log.error("SIGUSR1: cannot reopen the log: \(error)")
            }
        default: break
        }
    }

    func wantedWorkers(_ service: ServiceConfig) -> Int { max(1, service.workers + extraWorkers) }

    func statusLine() -> String {
        let total = config.services.reduce(0) { $0 + workers.active(service: $1.name, generation: generation).count }
        return "\(config.services.count) services, \(total) workers, generation \(generation)"
    }

    /// Stops: graceful lets workers finish in-flight requests within graceful_timeout; fast
    /// interrupts them (SIGINT to each worker's process group) and kills what remains after a second.
    func beginStop(graceful: Bool) {
        guard stopDeadline == nil else {
            if !graceful { retireAll(signal: SIGINT, within: .seconds(1)) }
            return
        }
        log.info(graceful ? "SIGTERM: graceful stop (up to \(config.gracefulTimeout))" : "fast stop")
        notifier.send("STOPPING=1")
        let limit: Duration = graceful ? config.gracefulTimeout : .seconds(1)
        stopDeadline = ContinuousClock.now.advanced(by: limit)
        listeners.closeAll()
        sockets = [:]
        retireAll(signal: graceful ? SIGTERM : SIGINT, within: limit)
    }

    private func retireAll(signal: Int32, within limit: Duration) {
        let deadline = ContinuousClock.now.advanced(by: limit)
        _ = workers.retire(where: { _ in true }, deadline: deadline)
        for record in workers.records.values {
            if signal == SIGTERM { kill(record.pid, signal) } else { kill(-record.pid, signal) }
        }
    }
}
