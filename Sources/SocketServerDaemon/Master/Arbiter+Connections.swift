// The master's part in the access log and in what dead workers held: it opens the access log
// (start-up, reload, SIGUSR1) and, when it reaps a worker, writes `killed` lines for the requests
// it was running and gives back the connections it held in its service's counters.
#if canImport(Glibc)
import Glibc
#endif
import SocketServer

extension Arbiter {
    /// SIGUSR1: opens the log file and the access log again (logrotate moved them) and sends both
    /// to every worker.
    func reopenLogs() {
        var reopened = true
        do { _ = try Logger.shared.reopenFile() } catch {
            reopened = false
            log.error("SIGUSR1: cannot reopen the log: \(error)")
        }
        do { try AccessLog.shared.reopen() } catch {
            reopened = false
            log.error("SIGUSR1: cannot reopen the access log: \(error)")
        }
        Logger.shared.notifyWorkers(supervisor.workers.logChannels)
        if reopened { log.info("SIGUSR1: log reopened") }
    }

    /// A reload: follows `log_file` and `access_log` where they changed, and tells the workers once.
    func switchLogs(from previous: DaemonConfig, to next: DaemonConfig) {
        var changed = false
        if next.logFile != previous.logFile {
            changed = true
            do { try Logger.shared.redirect(to: next.logFile) } catch {
                log.error("log_file: \(error); logging stays where it was")
            }
        }
        if next.accessLog != previous.accessLog || next.accessLog != AccessLog.shared.currentTarget {
            changed = true
            do { try AccessLog.shared.open(next.accessLog) } catch {
                log.error("access_log: \(error); the access log stays \(AccessLog.shared.currentTarget)")
            }
        }
        if changed { Logger.shared.notifyWorkers(supervisor.workers.logChannels) }
    }

    /// A reaped worker's board: a `killed` line for each request still on it (the worker died,
    /// or was killed at request_timeout, while running it), and what its open connections held
    /// (active, per_source) given back to its service's counters.
    func settleConnections(of record: WorkerRecord, slot: Int) {
        let unfinished = scoreboard.running(in: slot)
        if AccessLog.shared.isOn, !unfinished.isEmpty {
            let now = Int64(monotonicNanoseconds())
            AccessLog.shared.writeNow(unfinished.map { request in
                AccessLine(service: record.service, client: .text(request.client), worker: record.pid,
                           durationNanoseconds: UInt64(max(0, now - request.since)), bytesIn: 0, bytesOut: 0, result: .killed)
            })
        }
        let counters = cycle.counters[record.service]
        for freed in scoreboard.releaseConnections(slot: slot) {
            guard let counters, freed.state == .active || freed.state == .activeWithSource else { continue }
            counters.closeConnection()
            if freed.state == .activeWithSource { counters.closeSource(freed.key) }
        }
    }
}
