// The master's runtime state built from one configuration, as nginx's ngx_cycle_t: a reload builds
// a new cycle from the current one and a new config, and swaps it in with one assignment.
#if canImport(Glibc)
import Glibc
#endif
import SocketServer
import SocketServerHandlers

/// Everything the master runs from one configuration: the config, its generation, the listening
/// socket of each service (and the metrics listener), each service's shared counters and the log settings. `Listeners` owns
/// the sockets (opens, keeps across reloads, closes); a cycle names the ones its services use.
struct Cycle {
    let config: DaemonConfig
    let generation: Int
    let sockets: [ListenAddress: Socket]
    /// Each service's counters by name: a service kept across a reload keeps its own (and its
    /// totals); workers of a service that is gone keep the mapping they inherited.
    var counters: [String: ServiceCounters] = [:]

    var logLevel: LogLevel { config.logLevel }
    /// The metrics listener (nil: `metrics` is off).
    var metricsSocket: Socket? { config.metrics.flatMap { sockets[$0] } }
    var services: [ServiceConfig] { config.services }

    /// The next cycle: `config` with the sockets its services need (an address already open keeps
    /// its socket, so no connection is refused; new ones are bound) and the next generation. All or
    /// nothing: on failure the sockets this call opened are closed again and `current` stays intact.
    static func build(after current: Cycle?, config: DaemonConfig, listeners: Listeners) throws(DaemonError) -> Cycle {
        let sockets = try listeners.open(for: ListenerWant.all(in: config))
        var counters: [String: ServiceCounters] = [:]
        for service in config.services {
            counters[service.name] = current?.counters[service.name] ?? ServiceCounters.create(service: service.name)
        }
        return Cycle(config: config, generation: (current?.generation ?? 0) + 1, sockets: sockets, counters: counters)
    }

    /// The demands the supervisor starts workers for: each service's `workers`, or the count in
    /// `scaled` (`scale`), with `extra` workers each (TTIN/TTOU); one at least.
    func demands(extra: Int, scaled: [String: Int] = [:]) -> [ServiceDemand] {
        services.map { service in
            ServiceDemand(name: service.name, wanted: max(1, (scaled[service.name] ?? service.workers) + extra),
                          requestTimeout: service.requestTimeout, startTimeout: service.programSettings?.startTimeout)
        }
    }

    func service(named name: String) -> ServiceConfig? { services.first { $0.name == name } }

    /// "2 services, 4 workers": the services and the current generation's workers.
    func summary(workers: WorkerTable) -> String {
        let total = services.reduce(0) { $0 + workers.active(service: $1.name, generation: generation).count }
        return "\(services.count) services, \(total) workers"
    }

    /// "12 active, 3401 served": connections open now and served to the end, over every service.
    var figures: String {
        let active = counters.values.reduce(Int64(0)) { $0 + $1[.active] }
        let served = counters.values.reduce(Int64(0)) { $0 + $1[.served] }
        return "\(active) active, \(served) served"
    }
}
