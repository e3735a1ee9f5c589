// The series the metrics process serves, read from the shared counters at each scrape. The names
// are a public contract (dashboards and alert rules use them): the table below is the one place
// they are written, and the documentation is checked against it.

/// What a scrape reads: the daemon's counters and each service's, in the configuration's order.
struct MetricsSource: Sendable {
    let daemon: DaemonCounters?
    let services: [(name: String, counters: ServiceCounters)]
}

/// One metric family: its name, type and help, and how its samples are read.
struct MetricFamily: Sendable {
    let name: String
    let type: MetricType
    let help: String
    let write: @Sendable (inout PrometheusText, MetricsSource) -> Void
}

enum MetricsExposition {
    /// Every family, in the order served. Each series exists from the start: a service's series
    /// (every refusal reason among them) and both reload results are written at 0 before
    /// anything is counted.
    static let families: [MetricFamily] = [
        MetricFamily(name: "socketserverd_info", type: .gauge, help: "The daemon's version, as a label; always 1.") { text, _ in
            text.sample("socketserverd_info", [("version", Daemon.version)], 1)
        },
        daemon("socketserverd_start_time_seconds", .gauge,
               "When the daemon started, in seconds since the Unix epoch (kept across reloads and binary upgrades).",
               .startTime),
        daemon("socketserverd_generation", .gauge,
               "The running configuration's generation: 1 at start, one more at each reload or binary upgrade.", .generation),
        MetricFamily(name: "socketserverd_reloads_total", type: .counter,
                     help: "Reloads by result: ok (the new configuration serves) or failed (the previous one serves on).") { text, source in
            guard let daemon = source.daemon else { return }
            text.sample("socketserverd_reloads_total", [("result", "ok")], daemon[.reloadsOK])
            text.sample("socketserverd_reloads_total", [("result", "failed")], daemon[.reloadsFailed])
        },
        service("socketserverd_workers", .gauge, "Worker processes of the service running now, of every generation.", .workers),
        service("socketserverd_worker_restarts_total", .counter,
                "Workers of the service that exited without being asked to, and were replaced.", .restarts),
        service("socketserverd_connections_total", .counter,
                "Connections accepted (datagrams handled, for a datagram service); refused ones are not counted.", .connections),
        service("socketserverd_connections_active", .gauge, "Connections open now.", .active),
        service("socketserverd_served_total", .counter, "Connections (or datagrams) handled to the end.", .served),
        MetricFamily(name: "socketserverd_refused_total", type: .counter,
                     help: "Connections (or datagrams) refused, by reason: "
                        + RefusalReason.allCases.map(\.rawValue).joined(separator: ", ") + ".") { text, source in
            for (name, counters) in source.services {
                for reason in RefusalReason.allCases {
                    text.sample("socketserverd_refused_total", [("service", name), ("reason", reason.rawValue)],
                                counters.refusals(reason))
                }
            }
        },
        service("socketserverd_received_bytes_total", .counter, "Bytes received from clients.", .receivedBytes),
        service("socketserverd_sent_bytes_total", .counter, "Bytes sent to clients.", .sentBytes),
        MetricFamily(name: "socketserverd_connection_duration_seconds", type: .histogram,
                     help: "How long connections (or datagrams) took, from accept to close.") { text, source in
            for (name, counters) in source.services {
                text.histogram("socketserverd_connection_duration_seconds", [("service", name)],
                               bounds: ServiceCounters.durationBuckets, cumulative: counters.cumulativeBuckets(),
                               sum: Double(counters[.durationNanoseconds]) / 1e9, count: counters[.durationCount])
            }
        },
    ]

    /// The whole exposition, read now.
    static func render(_ source: MetricsSource) -> String {
        var text = PrometheusText()
        for family in families {
            text.family(family.name, family.type, help: family.help)
            family.write(&text, source)
        }
        return text.text
    }

    /// A family with one unlabelled sample from the daemon's counters.
    private static func daemon(_ name: String, _ type: MetricType, _ help: String, _ field: DaemonCounters.Field) -> MetricFamily {
        MetricFamily(name: name, type: type, help: help) { text, source in
            if let daemon = source.daemon { text.sample(name, [], daemon[field]) }
        }
    }

    /// A family with one sample per service, from one of its counters.
    private static func service(_ name: String, _ type: MetricType, _ help: String, _ field: ServiceCounters.Field) -> MetricFamily {
        MetricFamily(name: name, type: type, help: help) { text, source in
            for (service, counters) in source.services { text.sample(name, [("service", service)], counters[field]) }
        }
    }
}
