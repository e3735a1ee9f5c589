// SIGHUP: a new configuration and a new generation of workers, without refusing a connection.
#if canImport(Glibc)
import Glibc
#endif
import SocketServer
import SocketServerHandlers

extension Arbiter {
    /// Re-reads the config. Invalid: log why and keep serving the old one. Valid: keep sockets whose
    /// address is unchanged, open new ones, start the new generation, then ask the old one to finish
    /// in-flight requests and exit (killed after graceful_timeout), and close removed sockets.
    func reload() {
        log.info("SIGHUP: reloading \(configPath)")
        notifier.reloading()
        let fresh: DaemonConfig
        do {
            fresh = try loadCheckedConfig()
        } catch {
            if deferredSignals.contains(where: Self.isStop) {  // the check was abandoned for a stop
                log.warning("reload abandoned: \(error.errors.map(\.description).joined(separator: "; "))")
                notifier.ready(status: "reload abandoned; stopping")
                return
            }
            for problem in error.errors { log.error("\(problem)") }
            log.error("reload failed: \(error.errors.count) error(s) in the configuration; still serving the previous one")
            notifier.ready(status: "reload failed; " + statusLine())
            return
        }
        let fresher: [ListenAddress: Socket]
        do {
            fresher = try listeners.open(for: fresh.services)
        } catch {
            log.error("reload failed: \(error); still serving the previous configuration")
            notifier.ready(status: "reload failed; " + statusLine())
            return
        }
        let old = generation
        let previousLogFile = config.logFile
        if let credentials, fresh.user != config.user || fresh.group != config.group {
            log.warning("user and group take effect at the next start; workers still run as \(credentials)")
        }
        generation += 1
        config = fresh
        sockets = fresher
        extraWorkers = 0
        Logger.shared.level = LogLevel(name: fresh.logLevel.rawValue) ?? .info
        if fresh.logFile != previousLogFile {
            do {
                try Logger.shared.redirect(to: fresh.logFile, notifying: workers.logChannels)
            } catch {
                log.error("log_file: \(error); logging stays where it was")
            }
        }
        for service in fresh.services { backoff.forget(service.name) }

        // Hold exactly the new set before forking: a worker closes every socket the master holds
        // but its own, and one forked before this commit kept the sockets just opened for other
        // services (a removed service's port then stayed in use after its workers were gone).
        listeners.commit(fresher)
        // New workers first, so that someone is always accepting on a kept socket.
        maintainWorkers()
        let deadline = ContinuousClock.now.advanced(by: fresh.gracefulTimeout)
        for pid in workers.retire(where: { $0.generation <= old }, deadline: deadline) { kill(pid, SIGTERM) }
        log.info("reloaded: generation \(generation), \(fresh.services.count) service(s)")
        notifier.ready(status: statusLine())
    }
}

extension Arbiter {
    /// The configuration a reload would switch to, checked with its plugins in a child process.
    func loadCheckedConfig() throws(ConfigErrors) -> DaemonConfig {
        try ConfigCheck.load(path: configPath, catalog: catalog, cpuCount: cpuCount, forRoot: getuid() == 0, inChild: {
            signals.release()
            notifier.releaseInWorker()
            listeners.closeAll(except: nil)
            DescriptorChannel.keepOnly(nil, closing: workers.logChannels)
        }, whileWaiting: {
            // A plugin's check can take seconds: workers that die meanwhile are still reaped and
            // replaced, hung requests killed, the watchdog fed. Signals are kept for the loop, but
            // a stop (TERM, INT, QUIT) abandons the check, so `systemctl stop` need not wait for it.
            let now = ContinuousClock.now
            collectChildren()
            killOverdue(at: now)
            killHungRequests()
            notifier.watchdogIfDue(now: now)
            if stopDeadline == nil { maintainWorkers() }
            deferredSignals += signals.drain()
            guard let stop = deferredSignals.first(where: Self.isStop) else { return nil }
            return "\(signalName(stop)) arrived"
        })
    }
}
