// Carrying out the supervisor's decisions: forking, signalling and reaping workers.
#if canImport(Glibc)
import Glibc
#endif
import SocketServer

extension Arbiter {
    /// Reads the scoreboard, asks the supervisor what is due, and does it.
    func supervise(now: ContinuousClock.Instant) {
        var seen = Observations()
        let clock = Int64(monotonicNanoseconds())
        for record in supervisor.workers.records.values {
            if record.program != nil {
                if !record.ready, programs.isReady(record.pid) == true { seen.ready.insert(record.pid) }
                continue
            }
            guard let slot = record.slot else {
                seen.ready.insert(record.pid)  // untracked (every slot taken): counted as ready
                continue
            }
            if !record.ready, scoreboard.isReady(slot: slot) { seen.ready.insert(record.pid) }
            if scoreboard.takeRetiring(slot: slot) { seen.selfRetiring.insert(record.pid) }
            if record.requestTimeout != nil, let (since, client) = scoreboard.oldest(in: slot) {
                seen.oldestRequest[record.pid] = (.nanoseconds(clock - since), client)
            }
        }
        for action in supervisor.decide(now: now, observing: seen) { carryOut(action) }
    }

    private func carryOut(_ action: SupervisorAction) {
        switch action {
        case .start(let service):
            if service == MetricsProcess.recordName { return spawnMetrics() }
            guard let config = cycle.service(named: service) else { return }
            spawn(config)
        case .retire(let pid, let service, let reason):
            switch reason {
            case .byItself:
                log.info("worker \(pid) (service \(service)) is retiring by itself; starting its replacement")
            case .oldGeneration, .surplus:
                kill(pid, stopSignal(of: pid))
            case .stop:
                if case .stopping(graceful: false, _) = state { kill(-pid, SIGINT) } else { kill(pid, stopSignal(of: pid)) }
            }
        case .kill(let pid, let service, let reason):
            switch reason {
            case .overdue:
                log.warning("\(WorkerRecord.title(pid: pid, service: service)) still running after its deadline; killing it")
            case .hung(let client, let running, let limit):
                log.error("service \(service): request from \(client) has run for \(running) (request_timeout \(limit)); "
                          + "killing worker \(pid)")
                if let slot = supervisor.workers.records[pid]?.slot { scoreboard.killChildGroups(in: slot) }
            case .notReady(let limit):
                log.error("service \(service): program worker \(pid) not ready after start_timeout \(limit); killing it")
            }
            kill(-pid, SIGKILL)
            kill(pid, SIGKILL)
        }
    }

    /// Forks one worker for `service` (signals blocked across the fork, so that none reaches the
    /// child before it has its own handlers).
    func spawn(_ service: ServiceConfig) {
        guard let socket = cycle.sockets[service.listen], let descriptor = catalog.descriptor(named: service.handler) else {
            log.error("service \(service.name): no socket or handler to start a worker with")
            return
        }
        if descriptor.runsProgram { return spawnProgram(service, socket: socket) }
        let slot = scoreboard.claimSlot(entries: Arbiter.requestsAtOnce(service), connections: Arbiter.connectionsAtOnce(service))
        let generation = cycle.generation
        let channel = DescriptorChannel.openForWorker(of: service.name)
        let pid = forkWithSignalsBlocked { [self] mask in
            releaseInChild(keeping: socket, channel: channel)
            WorkerProcess.run(service: service, generation: generation, socket: socket, descriptor: descriptor, masterPID: masterPID,
                              credentials: credentials, logChannel: channel?.receiving,
                              signalMask: mask, scoreboard: scoreboard, slot: slot, counters: cycle.counters[service.name],
                              gracefulTimeout: cycle.config.gracefulTimeout)
        }
        guard pid > 0 else {
            channel?.close()
            if let slot { scoreboard.releaseSlot(slot) }
            log.error("service \(service.name): fork failed: \(DaemonError.system("fork", errno))")
            return
        }
        supervisor.workers.add(WorkerRecord(pid: pid, service: service.name, generation: generation, started: .now,
                                            slot: slot, requestTimeout: service.requestTimeout, logChannel: channel))
        log.info("worker \(pid) started for service \(service.name) (generation \(generation))")
    }

    /// Reaps every worker that has ended (the master's collectChildren): logs how it ended, and for
    /// one that died unasked, the supervisor arranges a replacement with crash back-off. Workers
    /// only, by pid: a check's child is reaped by its check, which needs its status.
    func collectChildren() {
        for pid in Array(supervisor.workers.records.keys) {
            var status: Int32 = 0
            do {
                if try retryingOnInterrupt({ waitpid(pid, &status, WNOHANG) }) == 0 { continue }  // still running
            } catch {
                status = 0  // ECHILD: not ours to wait for any more (cannot happen to a worker; never wait for it forever)
            }
            let failedAtStart = (status >> 8) & 0xff == WorkerProcess.startupFailure && status & 0x7f == 0
            guard let (record, exit) = supervisor.workerExited(pid: pid, status: status, failedAtStart: failedAtStart, now: .now)
            else { continue }
            record.logChannel?.close()
            if record.program != nil {
                programs.ended(pid)
                kill(-pid, SIGKILL)  // what it started goes with it (what left its group is an orphan here)
            }
            var how = describeExit(status)
            if let slot = record.slot {
                // Whose requests it took down, for the log.
                if status != 0 { how += Arbiter.describeInFlight(scoreboard.clients(in: slot)) }
                settleConnections(of: record, slot: slot)
                // Programs it started for requests (exec) die with it, however it ended (a fast stop
                // exits 0 with requests running): they hold its clients' sockets.
                scoreboard.killChildGroups(in: slot)
                scoreboard.releaseSlot(slot)
            }
            if exit != .retired { counters(of: record.service)?.add(.restarts) }
            switch exit {
            case .retired:
                log.info("\(record.title) \(how)")
            case .clean:
                log.info("\(record.title) \(how); replacing it")
            case .crashed(let delay, let failures, let lived):
                kill(-pid, SIGKILL)  // its request children go with it
                if let delay, failures >= 2 {
                    log.error("\(record.title) \(how) after \(lived); \(failures) failures in a row, next start in \(delay)")
                } else {
                    log.warning("\(record.title) \(how); respawning")
                }
            }
        }
    }

    /// A service's counters: the running cycle's, or those of a service a reload removed.
    func counters(of service: String) -> ServiceCounters? {
        cycle.counters[service] ?? departedServices[service]?.counters
    }

    /// Sets each service's `workers` gauge to its running workers of every generation; a removed
    /// service is forgotten once its last worker is gone.
    func updateWorkerGauges() {
        var running: [String: Int64] = [:]
        for record in supervisor.workers.records.values { running[record.service, default: 0] += 1 }
        for (service, counters) in cycle.counters { counters.set(.workers, running[service] ?? 0) }
        for (service, departed) in departedServices {
            departed.counters?.set(.workers, running[service] ?? 0)
            if running[service] == nil { departedServices[service] = nil }
        }
    }

    /// The master is a subreaper too: what outlives a dead worker (its request children, programs
    /// that escaped with setsid) is re-parented here. Every child that is neither a worker nor the
    /// pending check's is killed and reaped. A process is only re-parented here when one of this
    /// process's children (direct or adopted) dies, so the loop calls this after a SIGCHLD only.
    func killAdoptedOrphans() {
        let checking: pid_t? = switch state {
        case .reloading(let check, _): check.pid
        case .upgrading(let check): check.pid
        case .serving, .stopping: nil
        }
        for child in Containment.children() where supervisor.workers.records[child] == nil && child != checking {
            kill(child, SIGKILL)
            Containment.reap(child)
            log.info("killed process \(child), left behind by a worker that ended")
        }
    }

    /// " while serving CLIENT" / " while serving 3 clients: A, B, C", or "" for an idle worker.
    static func describeInFlight(_ clients: [String]) -> String {
        guard let first = clients.first else { return "" }
        if clients.count == 1 { return " while serving \(first)" }
        return " while serving \(clients.count) clients: " + clients.joined(separator: ", ")
    }

    /// How many requests one worker of `service` runs at once: its scoreboard's size.
    static func requestsAtOnce(_ service: ServiceConfig) -> Int {
        switch service.concurrency {
        case .sync: return 1
        case .threads, .fork: return service.threads
        case .events: return 1  // event-driven handlers cannot block: nothing to track
        }
    }

    /// How many connections (or datagrams) one worker of `service` holds open at once, at most:
    /// its board's connection records (one more for a connection the pool or loop then refuses).
    static func connectionsAtOnce(_ service: ServiceConfig) -> Int {
        switch service.concurrency {
        case .sync: return 2
        case .threads: return service.threads + WorkerProcess.queueLimit(service) + 1
        case .fork: return service.threads + 2
        case .events: return service.threads * 32 + 1
        }
    }
}
