// Starting, reaping and killing workers.
#if canImport(Glibc)
import Glibc
#endif
import SocketServer

extension Arbiter {
    /// Starts the workers each service lacks (unless its crash back-off says wait) and retires extras.
    func maintainWorkers() {
        let now = ContinuousClock.now
        backoff.clearExpired(at: now)
        for service in config.services {
            let live = workers.active(service: service.name, generation: generation)
            let wanted = wantedWorkers(service)
            if live.count > wanted {
                let extra = live.suffix(live.count - wanted).map(\.pid)
                let deadline = now.advanced(by: config.gracefulTimeout)
                _ = workers.retire(where: { extra.contains($0.pid) }, deadline: deadline)
                for pid in extra { kill(pid, SIGTERM) }
                continue
            }
            guard live.count < wanted, backoff.mayStart(service.name, at: now) else { continue }
            for _ in live.count..<wanted { spawn(service) }
        }
    }

    /// Forks one worker for `service`. Signals are blocked across fork so that none reaches the
    /// child before it has its own handlers.
    func spawn(_ service: ServiceConfig) {
        guard let socket = sockets[service.listen], let descriptor = catalog.descriptor(named: service.handler) else {
            log.error("service \(service.name): no socket or handler to start a worker with")
            return
        }
        var all = sigset_t()
        var previous = sigset_t()
        sigfillset(&all)
        sigprocmask(SIG_BLOCK, &all, &previous)
        let slot = scoreboard.claimSlot()
        let channel = DescriptorChannel.openForWorker(of: service.name)
        let pid = fork()
        if pid == 0 {
            signals.release()
            notifier.releaseInWorker()
            listeners.closeAll(except: socket)
            DescriptorChannel.keepOnly(channel, closing: workers.logChannels)
            WorkerProcess.run(service: service, socket: socket, descriptor: descriptor, masterPID: masterPID,
                              credentials: credentials, logChannel: channel?.receiving,
                              signalMask: previous, scoreboard: scoreboard, slot: slot)
        }
        sigprocmask(SIG_SETMASK, &previous, nil)
        guard pid > 0 else {
            channel?.close()
            if let slot { scoreboard.releaseSlot(slot) }
            log.error("service \(service.name): fork failed: \(DaemonError.system("fork", errno))")
            return
        }
        workers.add(WorkerRecord(pid: pid, service: service.name, generation: generation, started: .now,
                                 slot: slot, requestTimeout: service.requestTimeout, logChannel: channel))
        log.info("worker \(pid) started for service \(service.name) (generation \(generation))")
    }

    /// Reaps every worker that has ended (the master's collectChildren): logs how it ended, and for
    /// one that died unasked, arranges a replacement with crash back-off. Workers only, by pid: a
    /// config-check child running meanwhile (a reload) is reaped by the check, which needs its status.
    func collectChildren() {
        for pid in Array(workers.records.keys) {
            var status: Int32 = 0
            var result: pid_t
            repeat { result = waitpid(pid, &status, WNOHANG) } while result < 0 && errno == EINTR
            if result == 0 { continue }  // still running
            // ECHILD: not ours to wait for any more (cannot happen to a worker; never wait for it forever)
            if result < 0 { status = 0 }
            guard let record = workers.remove(pid) else { continue }
            record.logChannel?.close()
            var how = describeExit(status)
            if let slot = record.slot {
                // Whose requests it took down, for the log.
                if status != 0 { how += Arbiter.describeInFlight(scoreboard.clients(in: slot)) }
                // Programs it started for requests (exec) die with it, however it ended (a fast stop
                // exits 0 with requests running): they hold its clients' sockets.
                scoreboard.killChildGroups(in: slot)
                scoreboard.releaseSlot(slot)
            }
            let now = ContinuousClock.now
            if record.retiring {
                log.info("worker \(pid) (service \(record.service)) \(how)")
                continue
            }
            let clean = status == 0
            if !clean { kill(-pid, SIGKILL) }  // its request children go with it
            let failedAtStart = (status >> 8) & 0xff == WorkerProcess.startupFailure && status & 0x7f == 0
            let lived = record.started.duration(to: now)
            if clean {
                log.info("worker \(pid) (service \(record.service)) \(how); replacing it")
                continue
            }
            let delay = backoff.workerDied(service: record.service, lived: lived, now: now, failedAtStart: failedAtStart)
            let failures = backoff.consecutiveFailures(record.service)
            if let delay, failures >= 2 {
                log.error("worker \(pid) (service \(record.service)) \(how) after \(lived); \(failures) failures in a row, next start in \(delay)")
            } else {
                log.warning("worker \(pid) (service \(record.service)) \(how); respawning")
            }
        }
    }

    /// " while serving CLIENT" / " while serving CLIENT and 3 more", or "" for an idle worker.
    static func describeInFlight(_ clients: [String]) -> String {
        guard let first = clients.first else { return "" }
        return " while serving \(first)" + (clients.count > 1 ? " and \(clients.count - 1) more" : "")
    }

    /// Workers that retire by themselves (max_requests) stop accepting at once: replace them now
    /// and give them graceful_timeout to finish, as a reload does.
    func noticeSelfRetiringWorkers(at now: ContinuousClock.Instant) {
        let deadline = now.advanced(by: config.gracefulTimeout)
        for record in workers.records.values where !record.retiring {
            guard let slot = record.slot, scoreboard.takeRetiring(slot: slot) else { continue }
            _ = workers.retire(where: { $0.pid == record.pid }, deadline: deadline)
            log.info("worker \(record.pid) (service \(record.service)) is retiring (max_requests); starting its replacement")
        }
    }

    /// Kills (with its process group and the programs its requests started) a worker whose request
    /// has run longer than the service's request_timeout; it is then replaced like any dead worker.
    func killHungRequests() {
        let now = Scoreboard.monotonicNanoseconds()
        for record in workers.records.values where !record.killedForHang {
            guard let limit = record.requestTimeout, let slot = record.slot,
                  let (since, client) = scoreboard.oldest(in: slot) else { continue }
            let running = Duration.nanoseconds(now - since)
            guard running > limit else { continue }
            log.error("service \(record.service): request from \(client) has run for \(running) (request_timeout \(limit)); "
                      + "killing worker \(record.pid)")
            kill(-record.pid, SIGKILL)
            kill(record.pid, SIGKILL)
            scoreboard.killChildGroups(in: slot)
            workers.markKilledForHang(record.pid)
        }
    }

    /// Kills retiring workers that outlived their deadline (graceful_timeout), with their children.
    func killOverdue(at now: ContinuousClock.Instant) {
        for record in workers.overdue(at: now) {
            log.warning("worker \(record.pid) (service \(record.service)) still running after its deadline; killing it")
            kill(-record.pid, SIGKILL)
            kill(record.pid, SIGKILL)
            workers.clearDeadline(record.pid)
        }
    }
}
