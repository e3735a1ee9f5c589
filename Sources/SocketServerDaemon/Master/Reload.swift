// SIGHUP, the whole reload: check the new configuration (its plugins in a child, waited for in the
// master's poll), build the next cycle, swap it in, start the new generation; the old one retires
// once the new one is ready. A failure at any step leaves the running cycle untouched.
#if canImport(Glibc)
import Glibc
#endif
import SocketServer
import SocketServerHandlers

extension Arbiter {
    /// HUP: starts a reload, or, while one is checking, asks for one more after it.
    func requestReload() {
        switch state {
        case .reloading(let check, _):
            log.info("SIGHUP: a reload is being checked; reloading again after it")
            state = .reloading(check, again: true)
        case .upgrading:
            log.warning("SIGHUP ignored: a binary upgrade is in progress (it re-reads the configuration)")
        case .stopping:
            break
        case .serving:
            log.info("SIGHUP: reloading \(configPath)")
            notifier.reloading()
            let context = ConfigCheck.Context(catalog: catalog, cpuCount: cpuCount, forRoot: geteuid() == 0,
                                              listenerChecker: .master(holding: listeners.heldAddresses))
            let (check, progress) = PendingConfigCheck.start(path: configPath, context: context, inChild: { self.releaseInChild() })
            if let check {
                state = .reloading(check, again: false)
            } else if case .finished(let result) = progress {
                finishReload(result)
            }
        }
    }

    /// In a child the master forks (a worker, a check): it keeps none of the master's descriptors
    /// or handlers, but for the listening socket it serves and its end of its log channel.
    func releaseInChild(keeping socket: Socket? = nil, channel: DescriptorChannel? = nil) {
        signals.release()
        notifier.releaseInWorker()
        listeners.closeAll(except: socket)
        control.releaseInChild()
        DescriptorChannel.keepOnly(channel, closing: supervisor.workers.logChannels)
    }

    /// Reads what the pending check wrote; when it is done, carries on with the reload or upgrade.
    func advancePendingCheck() {
        switch state {
        case .reloading(let check, let again):
            guard case .finished(let result) = check.advance() else { return }
            state = .serving
            finishReload(result)
            if again { requestReload() }
        case .upgrading(let check):
            guard let verdict = check.advance() else { return }
            state = .serving
            finishUpgradeCheck(verdict)
        case .serving, .stopping:
            break
        }
    }

    /// A stop arrived during a check: the check's child is killed and the old config stays.
    func abandonPendingCheck(because reason: String) {
        switch state {
        case .reloading(let check, let again):
            let errors = check.abandon(reason: reason)
            log.warning("reload abandoned: \(errors.errors.map(\.description).joined(separator: "; "))")
            if again { log.warning("SIGHUP ignored: the daemon is stopping") }  // the reload it asked for
            notifier.ready(status: "reload abandoned; stopping")
        case .upgrading(let check):
            check.abandon()
            log.warning("upgrade abandoned: \(reason)")
        case .serving, .stopping:
            break
        }
        state = .serving
    }

    /// The check's verdict: a valid config becomes the next cycle; an invalid one is logged and
    /// the previous one keeps serving.
    private func finishReload(_ result: Result<DaemonConfig, ConfigErrors>) {
        let fresh: DaemonConfig
        switch result {
        case .failure(let error):
            for problem in error.errors { log.error("\(problem)") }
            reloadFailed("\(error.errors.count) error(s) in the configuration; still serving the previous one")
            return
        case .success(let config):
            fresh = config
        }
        let next: Cycle
        let nextControl: ControlSocket?
        do {
            nextControl = try controlSocket(for: fresh)
            do {
                next = try Cycle.build(after: cycle, config: fresh, listeners: listeners)
            } catch {
                if nextControl !== control.socket { nextControl?.close() }
                throw error
            }
        } catch {
            reloadFailed("\(error); still serving the previous configuration")
            return
        }
        swap(to: next)
        control.serve(nextControl)
        daemonCounters?.add(.reloadsOK)
        log.info("reloaded: generation \(cycle.generation), \(cycle.services.count) service(s)")
        lastStatus = statusLine()
        notifier.ready(status: lastStatus)
    }

    private func reloadFailed(_ reason: String) {
        daemonCounters?.add(.reloadsFailed)
        log.error("reload failed: \(reason)")
        notifier.ready(status: "reload failed; " + statusLine())
    }

    /// The control socket `config` asks for: the one open now if the path is the same (kept, so
    /// that a reload never makes `status` fail), else a new one or none.
    private func controlSocket(for config: DaemonConfig) throws(DaemonError) -> ControlSocket? {
        let path = config.controlSocket.path(runtimeDirectory: runtimeDirectory)
        if path == control.socket?.path { return control.socket }
        return try path.map { path throws(DaemonError) in try ControlSocket.open(path: path, group: controlGroup) }
    }

    /// Makes `next` the running cycle: log settings, sockets, then its generation of workers.
    func swap(to next: Cycle) {
        let previous = cycle
        cycle = next
        extraWorkers = 0
        scaledWorkers = [:]
        for service in previous.services where next.service(named: service.name) == nil {
            departedServices[service.name] = (service, previous.counters[service.name])
        }
        for service in next.services { departedServices[service.name] = nil }
        Logger.shared.level = next.logLevel
        if let credentials, next.config.user != previous.config.user || next.config.group != previous.config.group {
            log.warning("user and group take effect at the next start; workers still run as \(credentials)")
        }
        switchLogs(from: previous.config, to: next.config)
        // Hold exactly the new set before forking: a worker closes every socket the master holds
        // but its own, so one forked before `commit` would keep the sockets just opened for other
        // services (a removed service's port would stay in use after its workers are gone).
        listeners.commit(next.sockets)
        startGeneration(next)
    }
}
