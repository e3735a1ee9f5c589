// What `socketserverd status` shows: the daemon's figures and each service's, with every worker
// of every generation, read by the master from its records, the scoreboard and the counters.
#if canImport(Glibc)
import Glibc
#endif
import SocketServer

/// One snapshot of the daemon, for `status` (text) and `status --json`.
struct StatusReport {
    struct Worker {
        let pid: pid_t
        let generation: Int
        let ageSeconds: Int64
        /// Connections (or datagrams) it served to the end, and those it has open now.
        let requests: Int64, active: Int64
        /// Told to finish (an old generation draining, a surplus, its own request limit, a stop).
        let retiring: Bool
    }

    struct Service {
        let name: String
        let listen: String
        let handler: String
        let concurrency: String
        /// The workers the current generation wants (nil: the service is no longer configured,
        /// and these are its last workers draining).
        let wanted: Int?
        let active: Int64, served: Int64
        let refused: [(reason: String, count: Int64)]
        let restarts: Int64
        let workers: [Worker]
    }

    let pid: pid_t
    let version: String
    let generation: Int
    let state: String
    /// When the daemon started (seconds since the epoch; an upgrade keeps it), and since then.
    let startTime: Int64, uptimeSeconds: Int64
    let reloadsOK: Int64, reloadsFailed: Int64
    let services: [Service]

    /// Every worker the report lists.
    var workerCount: Int { services.reduce(0) { $0 + $1.workers.count } }
}

extension Arbiter {
    /// The daemon now, as `status` reports it.
    func statusReport() -> StatusReport {
        let now = ContinuousClock.now
        let startTime = daemonCounters?[.startTime] ?? 0
        let records = supervisor.workers.records.values.sorted { ($0.generation, $0.started, $0.pid) < ($1.generation, $1.started, $1.pid) }
        let byService = Dictionary(grouping: records, by: \.service)
        var services = cycle.services.map { config in
            serviceReport(config, name: config.name, counters: cycle.counters[config.name],
                          wanted: supervisor.demands.first { $0.name == config.name }?.wanted,
                          workers: byService[config.name] ?? [], now: now)
        }
        // Services a reload removed whose workers still finish their requests.
        // (The metrics process has a record too, under a name no service can have.)
        for name in byService.keys.sorted() where cycle.service(named: name) == nil && name != MetricsProcess.recordName {
            let departed = departedServices[name]
            services.append(serviceReport(departed?.config, name: name, counters: departed?.counters, wanted: nil,
                                          workers: byService[name] ?? [], now: now))
        }
        return StatusReport(pid: masterPID, version: Daemon.version, generation: cycle.generation, state: stateName,
                            startTime: startTime, uptimeSeconds: startTime > 0 ? max(0, Int64(time(nil)) - startTime) : 0,
                            reloadsOK: daemonCounters?[.reloadsOK] ?? 0, reloadsFailed: daemonCounters?[.reloadsFailed] ?? 0,
                            services: services)
    }

    private func serviceReport(_ config: ServiceConfig?, name: String, counters: ServiceCounters?, wanted: Int?,
                               workers: [WorkerRecord], now: ContinuousClock.Instant) -> StatusReport.Service {
        let workers = workers.map { record in
            let (requests, active) = record.slot.map { scoreboard.counts(in: $0) } ?? (0, 0)
            return StatusReport.Worker(pid: record.pid, generation: record.generation,
                                       ageSeconds: record.started.duration(to: now).components.seconds,
                                       requests: requests, active: active, retiring: record.retiring)
        }
        return StatusReport.Service(
            name: name, listen: config?.listen.description ?? "", handler: config?.handler ?? "",
            concurrency: config?.concurrency.rawValue ?? "", wanted: wanted,
            active: counters?[.active] ?? 0, served: counters?[.served] ?? 0,
            refused: RefusalReason.allCases.map { ($0.rawValue, counters?.refusals($0) ?? 0) },
            restarts: counters?[.restarts] ?? 0, workers: workers)
    }

    private var stateName: String {
        switch state {
        case .serving: return "serving"
        case .reloading: return "reloading"
        case .upgrading: return "upgrading"
        case .stopping: return "stopping"
        }
    }
}
