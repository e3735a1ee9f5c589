// The metrics process, supervised as one more worker: the supervisor keeps one per generation
// (a fixed demand, apart from TTIN/TTOU and `scale`), restarts it with back-off when it dies,
// retires the previous generation's once the new one is ready, and stops it with the workers.
#if canImport(Glibc)
import Glibc
#endif
import SocketServer

extension Cycle {
    /// One metrics process when `metrics` is set, none otherwise.
    var metricsDemands: [ServiceDemand] {
        config.metrics == nil ? [] : [ServiceDemand(name: MetricsProcess.recordName, wanted: 1)]
    }

    /// What the metrics process of this cycle reads: the daemon's counters and those of each
    /// service of the configuration, in its order.
    func metricsSource(daemon: DaemonCounters?) -> MetricsSource {
        MetricsSource(daemon: daemon, services: services.compactMap { service in
            counters[service.name].map { (service.name, $0) }
        })
    }
}

extension Arbiter {
    /// Forks the metrics process of the current cycle on its listener (signals blocked across the
    /// fork, as for a worker). It keeps no other socket of the master's.
    func spawnMetrics() {
        guard let address = cycle.config.metrics, let socket = cycle.metricsSocket else {
            log.error("metrics: no listener to start the metrics process with")
            return
        }
        let slot = scoreboard.claimSlot(entries: 1)
        let generation = cycle.generation
        let source = cycle.metricsSource(daemon: daemonCounters)
        let channel = DescriptorChannel.openForWorker(of: "metrics")
        let pid = forkWithSignalsBlocked { [self] mask in
            releaseInChild(keeping: socket, channel: channel)
            MetricsProcess.run(socket: socket, source: source, generation: generation, masterPID: masterPID,
                               credentials: credentials, logChannel: channel?.receiving, signalMask: mask,
                               scoreboard: scoreboard, slot: slot)
        }
        guard pid > 0 else {
            channel?.close()
            if let slot { scoreboard.releaseSlot(slot) }
            log.error("metrics: fork failed: \(DaemonError.system("fork", errno))")
            return
        }
        supervisor.workers.add(WorkerRecord(pid: pid, service: MetricsProcess.recordName, generation: generation,
                                            started: .now, slot: slot, logChannel: channel))
        log.info("metrics process \(pid) started on \(address) (generation \(generation))")
    }
}
