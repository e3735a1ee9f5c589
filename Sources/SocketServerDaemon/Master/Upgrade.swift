// SIGUSR2, the binary upgrade: the binary at the master's own path checks the configuration, then
// the master re-executes it with the same pid, handing over its sockets, scoreboard and workers.
// The new image starts a new generation and retires the old one as a reload does. Anything that
// fails before the exec leaves the running binary serving as before.
#if canImport(Glibc)
import Glibc
#endif
import SocketServer

extension Arbiter {
    /// USR2: checks the new binary, or says why an upgrade cannot start now.
    func requestUpgrade() {
        guard case .serving = state else {
            log.warning("SIGUSR2 ignored: a reload or an upgrade is in progress")
            return
        }
        let binary = Daemon.executablePath
        log.info("SIGUSR2: upgrading to \(binary)")
        do {
            try UpgradeCheck.trust(binary, asRoot: geteuid() == 0)
            state = .upgrading(try UpgradeCheck.start(binary: binary, configPath: configPath, inChild: { self.releaseInChild() }))
            notifier.send("STATUS=upgrading to \(binary)")
        } catch {
            upgradeFailed("\(error)")
        }
    }

    /// The new binary's verdict on the configuration: passed, the master re-executes it.
    func finishUpgradeCheck(_ verdict: UpgradeCheck.Verdict) {
        guard verdict == .passed else {
            if case .failed(let reason) = verdict { upgradeFailed(reason) }
            return
        }
        let binary = Daemon.executablePath
        let handover = handoverState()
        let stateFile: Int32
        do {
            stateFile = try handover.writeToMemfd()
        } catch {
            upgradeFailed("\(error)")
            return
        }
        log.info("upgrade: \(binary) checked the configuration; re-executing it (pid \(masterPID) stays)")
        let kept = handover.descriptors + [stateFile]
        for fd in kept { setCloseOnExec(fd, false) }
        setenv(UpgradeHandover.environmentName, String(stateFile), 1)
        notifier.exportForNextImage()
        let argv = Daemon.arguments.map { strdup($0) } + [nil]
        // Every signal blocked across the exec: the new image unblocks them once its pipe takes them.
        let code = withAllSignalsBlocked { _ in
            execv(binary, argv)
            return errno  // still here: the exec failed; nothing was handed over
        }
        argv.forEach { free($0) }
        unsetenv(UpgradeHandover.environmentName)
        notifier.withdrawExport()
        for fd in handover.descriptors { setCloseOnExec(fd, true) }
        close(stateFile)
        upgradeFailed("exec \(binary): \(String(cString: strerror(code)))")
    }

    private func upgradeFailed(_ reason: String) {
        log.error("upgrade failed: \(reason); still serving with the running binary")
        lastStatus = "upgrade failed; " + statusLine()
        notifier.send("STATUS=\(lastStatus)")
    }

    /// What the next image needs to carry on.
    func handoverState() -> UpgradeHandover {
        var handover = UpgradeHandover()
        handover.generation = cycle.generation
        handover.extraWorkers = extraWorkers
        handover.pidFile = pidFileWritten
        handover.logPage = Logger.shared.sharedPageDescriptor
        handover.daemonCounters = daemonCounters?.descriptor ?? -1
        handover.control = control.socket.map { ($0.socket.fileno(), $0.path) }
        handover.counters = cycle.counters.sorted { $0.key < $1.key }.map { ($0.key, $0.value.descriptor) }
        handover.sockets = listeners.sockets.map { (address, socket) in
            (socket.fileno(), listeners.isSystemdOwned(address), address.description)
        }
        let now = ContinuousClock.now
        handover.workers = supervisor.workers.records.values.sorted { $0.pid < $1.pid }.map { record in
            let board = record.slot.flatMap { scoreboard.handover($0) }
            return UpgradeHandover.Worker(pid: record.pid, service: record.service, generation: record.generation, slot: record.slot,
                                   board: board?.descriptor ?? -1, entries: board?.entries ?? 0,
                                   channel: record.logChannel.map { ($0.sending, $0.receiving) } ?? (-1, -1),
                                   retiring: record.retiring, ready: record.ready,
                                   killInNanoseconds: record.killAt.map { now.duration(to: $0).wholeNanoseconds },
                                   ageNanoseconds: record.started.duration(to: now).wholeNanoseconds)
        }
        handover.programs = programs.handover(supervisor.workers)
        return handover
    }

    /// In the new image: takes over the previous image's sockets (keyed by the address each is
    /// bound to), pid file and workers; returns a stand-in for its cycle (only the generation counts).
    static func adopt(_ handover: UpgradeHandover, config: DaemonConfig, listeners: Listeners, scoreboard: Scoreboard,
                      supervisor: inout Supervisor) -> Cycle {
        var sockets: [ListenAddress: Socket] = [:]
        var systemd: Set<ListenAddress> = []
        for (fd, bySystemd, written) in handover.sockets {
            // The address as the config writes it, so the new cycle finds it (else as bound).
            let named = ListenerWant.all(in: config).first { $0.listen.description == written }?.listen
            guard let socket = try? Socket(adopting: fd), let address = named ?? (try? SocketActivation.listenAddress(of: socket)) else {
                log.warning("upgrade: descriptor \(fd) handed over is not a listening socket; closing it")
                close(fd)
                continue
            }
            setCloseOnExec(fd, true)
            sockets[address] = socket
            if bySystemd { systemd.insert(address) }
        }
        listeners.adopt(sockets, systemd: systemd)
        let now = ContinuousClock.now
        for worker in handover.workers {
            var slot = worker.slot
            if let claimed = slot, worker.board < 0 || !scoreboard.adopt(slot: claimed, descriptor: worker.board, entries: worker.entries) {
                slot = nil
            }
            let started = now.advanced(by: .nanoseconds(-max(0, worker.ageNanoseconds)))
            var record = WorkerRecord(pid: worker.pid, service: worker.service, generation: worker.generation, started: started,
                                      slot: slot, requestTimeout: nil)
            record.ready = worker.ready
            if worker.channel.sending >= 0, worker.channel.receiving >= 0 {
                setCloseOnExec(worker.channel.sending, true)
                setCloseOnExec(worker.channel.receiving, true)
                record.logChannel = DescriptorChannel(sending: worker.channel.sending, receiving: worker.channel.receiving)
            }
            record.retiring = worker.retiring
            record.killAt = worker.killInNanoseconds.map { now.advanced(by: .nanoseconds($0)) }
            if let program = handover.programs.first(where: { $0.pid == worker.pid }) {
                record.program = ProgramTraits(stopSignal: program.stopSignal, startTimeout: .nanoseconds(program.startTimeoutNanoseconds))
                record.failedToStart = program.failedToStart
            }
            supervisor.workers.add(record)
        }
        if handover.logPage >= 0 {
            do {
                try Logger.shared.adoptSharedPage(fd: handover.logPage)
                setCloseOnExec(handover.logPage, true)
            } catch {
                log.warning("upgrade: \(error); the previous generation keeps its log file until it retires")
            }
        }
        log.info("upgrade: took over \(sockets.count) socket(s) and \(handover.workers.count) worker(s) of generation "
                 + "\(handover.generation)")
        var counters: [String: ServiceCounters] = [:]
        for (service, fd) in handover.counters {
            if let adopted = ServiceCounters.adopt(fd) { counters[service] = adopted } else { close(fd) }
        }
        return Cycle(config: DaemonConfig(), generation: handover.generation, sockets: [:], counters: counters)
    }
}
