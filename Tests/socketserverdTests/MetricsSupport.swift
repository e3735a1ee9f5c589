// What the metrics tests share: configs with a metrics listener, a scrape parsed by
// prometheus_client, the metrics process's pid, and the assertions on a service's series (the
// full set from the start, and exact counts after known traffic).
import Foundation
import SocketServer
import SocketServerTestSupport
import XCTest

class MetricsTestCase: DaemonTestCase {
    /// The reasons every service's `socketserverd_refused_total` has a series for.
    static let refusalReasons = ["allow", "deny", "per_source", "max_connections", "rate", "full"]
    /// The duration histogram's `le` labels, in order.
    static let bucketBounds = ["0.001", "0.005", "0.01", "0.05", "0.1", "0.5", "1", "5", "10", "60", "+Inf"]
    /// The per-service families and their types, by sample name.
    static let serviceSeries: [(String, String)] = [
        ("socketserverd_workers", "gauge"), ("socketserverd_worker_restarts_total", "counter"),
        ("socketserverd_connections_total", "counter"), ("socketserverd_connections_active", "gauge"),
        ("socketserverd_served_total", "counter"), ("socketserverd_received_bytes_total", "counter"),
        ("socketserverd_sent_bytes_total", "counter"),
    ]

    /// A threads service on a passed socket.
    func echo(_ name: String = "echo", workers: Int = 2) -> Service {
        Service(name, handler: "echo", listen: .tcp, ["workers": workers, "concurrency": "threads"])
    }

    func config(metrics: String, _ services: Service..., daemon keys: ConfigKeys = [:]) -> DaemonConfigBuilder {
        keys.reduce(DaemonConfigBuilder(daemon: ["graceful_timeout": 5, "metrics": metrics], services: services)) {
            $0.adding(daemon: $1.key, $1.value)
        }
    }

    /// 127.0.0.1:`port` as a client connects to it.
    func loopback(_ port: Int) -> SocketAddress { .inet(host: "127.0.0.1", port: port) }

    /// A scrape that must succeed (200, the exposition's content type), parsed by prometheus_client.
    func scrape(_ address: SocketAddress, file: StaticString = #filePath, line: UInt = #line) throws -> ParsedMetrics {
        let answer = try scrapeMetrics(address)
        XCTAssertEqual(answer.status, 200, answer.body, file: file, line: line)
        XCTAssertEqual(answer.headers["content-type"], "text/plain; version=0.0.4; charset=utf-8", file: file, line: line)
        XCTAssertEqual(answer.headers["content-length"], String(answer.body.utf8.count), file: file, line: line)
        return try parseMetrics(answer.body, in: directory)
    }

    /// The daemon's metrics process (the child whose title says so), or nil.
    func metricsPID(of daemon: DaemonProcess) -> pid_t? {
        daemon.workerPIDs().first { commandLine(of: $0).hasPrefix("socketserverd: metrics") }
    }

    /// Waits for a metrics process other than `old` and returns it.
    func waitForMetricsProcess(of daemon: DaemonProcess, other old: pid_t? = nil, within limit: Duration = .seconds(10)) -> pid_t? {
        pollValue(within: limit, every: .milliseconds(20)) {
            ChildReaping.reapEnded(sparing: daemons.map(\.pid))
            return metricsPID(of: daemon).flatMap { $0 == old ? nil : $0 }
        }
    }

    /// Every series the daemon promises from the start, with its type: the daemon's, and for each
    /// of `services` every per-service series, each refusal reason and the whole histogram.
    func assertEverySeries(_ metrics: ParsedMetrics, services: [String], file: StaticString = #filePath, line: UInt = #line) {
        func type(_ sample: String) -> String? { metrics.family(of: sample)?.type }
        XCTAssertEqual(metrics.value("socketserverd_info", ["version": "1.0.0"]), 1, file: file, line: line)
        XCTAssertEqual(type("socketserverd_info"), "gauge", file: file, line: line)
        XCTAssertEqual(type("socketserverd_start_time_seconds"), "gauge", file: file, line: line)
        XCTAssertEqual(type("socketserverd_reloads_total"), "counter", file: file, line: line)
        for result in ["ok", "failed"] {
            XCTAssertNotNil(metrics.value("socketserverd_reloads_total", ["result": result]), "reloads \(result)", file: file, line: line)
        }
        XCTAssertEqual(metrics.samples("socketserverd_reloads_total").count, 2, file: file, line: line)
        for family in metrics.families { XCTAssertFalse(family.help.isEmpty, "\(family.name) has no HELP", file: file, line: line) }
        for service in services {
            let labels = ["service": service]
            for (sample, kind) in Self.serviceSeries {
                XCTAssertEqual(type(sample), kind, sample, file: file, line: line)
                let value = metrics.value(sample, labels)
                XCTAssertNotNil(value, "\(sample){service=\(service)}", file: file, line: line)
                XCTAssertGreaterThanOrEqual(value ?? -1, 0, "\(sample){service=\(service)}", file: file, line: line)
            }
            XCTAssertEqual(type("socketserverd_refused_total"), "counter", file: file, line: line)
            for reason in Self.refusalReasons {
                XCTAssertNotNil(metrics.value("socketserverd_refused_total", ["service": service, "reason": reason]),
                                "refused \(service) \(reason)", file: file, line: line)
            }
            XCTAssertEqual(type("socketserverd_connection_duration_seconds_bucket"), "histogram", file: file, line: line)
            let buckets = metrics.samples("socketserverd_connection_duration_seconds_bucket").filter { $0.labels["service"] == service }
            XCTAssertEqual(buckets.map { $0.labels["le"] ?? "" }.map(Self.normalisedBound), Self.bucketBounds, file: file, line: line)
            XCTAssertEqual(buckets.map(\.value), buckets.map(\.value).sorted(), "buckets are cumulative", file: file, line: line)
            XCTAssertNotNil(metrics.value("socketserverd_connection_duration_seconds_count", labels), file: file, line: line)
            XCTAssertNotNil(metrics.value("socketserverd_connection_duration_seconds_sum", labels), file: file, line: line)
        }
        let listed = Set(metrics.samples("socketserverd_connections_total").compactMap { $0.labels["service"] })
        XCTAssertEqual(listed, Set(services), "the services with series", file: file, line: line)
    }

    /// An `le` label as the exposition wrote it (prometheus_client keeps the text as written).
    static func normalisedBound(_ text: String) -> String {
        guard let value = Double(text), value.isFinite else { return text }
        return value == value.rounded() ? String(Int(value)) : String(value)
    }

    /// The exact counts of one service after known traffic: every connection handled to the end,
    /// none open, `bytes` received and sent (an echo), `refused` by reason (the others 0).
    func assertCounts(_ metrics: ParsedMetrics, service: String, connections: Int, bytes: Int, refused: [String: Int] = [:],
                      file: StaticString = #filePath, line: UInt = #line) {
        let labels = ["service": service]
        XCTAssertEqual(metrics.value("socketserverd_connections_total", labels), Double(connections), "connections", file: file, line: line)
        XCTAssertEqual(metrics.value("socketserverd_served_total", labels), Double(connections), "served", file: file, line: line)
        XCTAssertEqual(metrics.value("socketserverd_connections_active", labels), 0, "active", file: file, line: line)
        XCTAssertEqual(metrics.value("socketserverd_received_bytes_total", labels), Double(bytes), "received", file: file, line: line)
        XCTAssertEqual(metrics.value("socketserverd_sent_bytes_total", labels), Double(bytes), "sent", file: file, line: line)
        XCTAssertEqual(metrics.value("socketserverd_connection_duration_seconds_count", labels), Double(connections),
                       "histogram count", file: file, line: line)
        XCTAssertEqual(metrics.value("socketserverd_connection_duration_seconds_bucket", labels.merging(["le": "+Inf"]) { $1 }),
                       Double(connections), "+Inf bucket", file: file, line: line)
        for reason in Self.refusalReasons {
            XCTAssertEqual(metrics.value("socketserverd_refused_total", ["service": service, "reason": reason]),
                           Double(refused[reason] ?? 0), "refused \(reason)", file: file, line: line)
        }
    }

    /// Scrapes until `sample{labels}` reaches `value` (counters are written as connections end,
    /// a moment after the client has its reply); the last scrape.
    func scrape(_ address: SocketAddress, until sample: String, _ labels: [String: String], reaches value: Double,
                within limit: Duration = .seconds(10)) throws -> ParsedMetrics {
        var last = try scrape(address)
        _ = try eventually(within: limit, every: .milliseconds(50)) {
            if last.value(sample, labels) == value { return true }
            last = try scrape(address)
            return last.value(sample, labels) == value
        }
        return last
    }
}
