// The metrics process's pieces on their own: the `metrics` key, the exposition written from real
// shared counters (exact values), the escaping the format asks for, the HTTP answers, and the
// documentation of every metric.
import Foundation
import SocketServer
@testable import SocketServerDaemon
import SocketServerTestSupport
import XCTest

final class MetricsExpositionTests: XCTestCase {
    func testMetricsKey() {
        let service = configService("a", listen: "tcp://127.0.0.1:7000")
        XCTAssertNil(configLoaded(service)?.metrics, "metrics is off by default")
        XCTAssertNil(configLoaded("[daemon]\nmetrics = off\n" + service)?.metrics)
        XCTAssertEqual(configLoaded("[daemon]\nmetrics = tcp://127.0.0.1:9477\n" + service)?.metrics,
                       .tcp(.inet(host: "127.0.0.1", port: 9477)))
        XCTAssertEqual(configLoaded("[daemon]\nmetrics = tcp://[::1]:9477\n" + service)?.metrics,
                       .tcp(.inet6(host: "::1", port: 9477)))
        XCTAssertEqual(configLoaded("[daemon]\nmetrics = unix:/run/socketserverd/metrics.sock\n" + service)?.metrics,
                       .unix(path: "/run/socketserverd/metrics.sock"))
        for (value, message) in [
            ("udp://127.0.0.1:9477", "metrics must be a stream listener, tcp://HOST:PORT or unix:/PATH, got 'udp://127.0.0.1:9477'"),
            ("unixgram:/run/m.sock", "metrics must be a stream listener, tcp://HOST:PORT or unix:/PATH, got 'unixgram:/run/m.sock'"),
            ("tcp://127.0.0.1:0", "metrics tcp://127.0.0.1:0: port 0 would be a different port at each start; name a fixed port"),
            ("9477", "metrics: bad listen address '9477': missing scheme (expected tcp://HOST:PORT, udp://HOST:PORT, "
                + "unix:/PATH or unixgram:/PATH)"),
            ("tcp://localhost:9477", "metrics: bad listen address 'tcp://localhost:9477': host 'localhost' is not a numeric "
                + "IPv4 address (host names are not resolved; write e.g. 127.0.0.1 or [::1])"),
        ] {
            assertConfigErrors("[daemon]\nmetrics = \(value)\n" + service, ["main.conf:2: \(message)"])
        }
    }

    /// The metrics listener takes part in the listen conflicts, reported at the `metrics` line.
    func testMetricsConflictsWithAServiceAtItsLine() {
        let text = "[daemon]\nmetrics = tcp://[::]:7000\n" + configService("a", listen: "tcp://127.0.0.1:7000")
            + configService("b", listen: "unix:/run/b.sock")
        assertConfigErrors(text, [
            "main.conf:2: metrics tcp://[::]:7000 conflicts with service 'a', which listens on tcp://127.0.0.1:7000 (main.conf:4)",
        ])
        assertConfigErrors("[daemon]\nmetrics = unix:/run/b.sock\n" + configService("b", listen: "unixgram:/run/b.sock"), [
            "main.conf:2: metrics unix:/run/b.sock conflicts with service 'b', which listens on unixgram:/run/b.sock (main.conf:4)",
        ])
        XCTAssertNotNil(configLoaded("[daemon]\nmetrics = tcp://127.0.0.1:7001\n" + configService("a", listen: "udp://127.0.0.1:7001")),
                        "a UDP service and the TCP metrics listener may share a port")
    }

    /// Exact values from real shared counters, every series present from the start.
    func testExpositionFromSharedCounters() throws {
        let daemon = try XCTUnwrap(DaemonCounters.create())
        let echo = try XCTUnwrap(ServiceCounters.create(service: "echo"))
        let odd = try XCTUnwrap(ServiceCounters.create(service: "x"))
        daemon.set(.generation, 3)
        daemon.add(.reloadsOK, 2)
        echo.add(.connections, 5)
        echo.add(.served, 4)
        echo.add(.receivedBytes, 100)
        echo.add(.sentBytes, 250)
        echo.set(.workers, 2)
        _ = echo.openConnection(limit: nil)
        echo.refuse(.perSource)
        echo.refuse(.perSource)
        echo.refuse(.deny)
        for nanoseconds: Int64 in [500_000, 2_000_000, 2_000_000, 70_000_000_000] { echo.recordDuration(nanoseconds: nanoseconds) }
        let text = MetricsExposition.render(MetricsSource(daemon: daemon, services: [("echo", echo), ("a\"b\\c\nd", odd)]))
        let lines = Set(text.split(separator: "\n").map(String.init))
        for expected in [
            "socketserverd_info{version=\"\(Daemon.version)\"} 1",
            "socketserverd_start_time_seconds \(daemon[.startTime])",
            "socketserverd_generation 3",
            "socketserverd_reloads_total{result=\"ok\"} 2",
            "socketserverd_reloads_total{result=\"failed\"} 0",
            "# TYPE socketserverd_reloads_total counter",
            "socketserverd_workers{service=\"echo\"} 2",
            "socketserverd_connections_total{service=\"echo\"} 5",
            "socketserverd_connections_active{service=\"echo\"} 1",
            "socketserverd_served_total{service=\"echo\"} 4",
            "socketserverd_received_bytes_total{service=\"echo\"} 100",
            "socketserverd_sent_bytes_total{service=\"echo\"} 250",
            "socketserverd_refused_total{service=\"echo\",reason=\"per_source\"} 2",
            "socketserverd_refused_total{service=\"echo\",reason=\"deny\"} 1",
            "socketserverd_refused_total{service=\"echo\",reason=\"full\"} 0",
            "# TYPE socketserverd_connection_duration_seconds histogram",
            "socketserverd_connection_duration_seconds_bucket{service=\"echo\",le=\"0.001\"} 1",
            "socketserverd_connection_duration_seconds_bucket{service=\"echo\",le=\"0.005\"} 3",
            "socketserverd_connection_duration_seconds_bucket{service=\"echo\",le=\"60\"} 3",
            "socketserverd_connection_duration_seconds_bucket{service=\"echo\",le=\"+Inf\"} 4",
            "socketserverd_connection_duration_seconds_sum{service=\"echo\"} 70.0045",
            "socketserverd_connection_duration_seconds_count{service=\"echo\"} 4",
            "socketserverd_connections_total{service=\"a\\\"b\\\\c\\nd\"} 0",
            "socketserverd_refused_total{service=\"a\\\"b\\\\c\\nd\",reason=\"rate\"} 0",
        ] {
            XCTAssertTrue(lines.contains(expected), "missing '\(expected)' in:\n\(text)")
        }
        XCTAssertTrue(text.hasSuffix("\n"))
        // Each family's HELP and TYPE come once, before its samples, which follow one another.
        var seen: [String] = []
        for line in text.split(separator: "\n") where line.hasPrefix("# TYPE ") { seen.append(String(line.split(separator: " ")[2])) }
        XCTAssertEqual(seen, MetricsExposition.families.map(\.name))
        XCTAssertEqual(text.split(separator: "\n").filter { $0.hasPrefix("# HELP ") }.count, seen.count)
    }

    func testEscaping() {
        XCTAssertEqual(PrometheusText.escapeLabel(#"a"b\c"# + "\nd\r\ne"), #"a\"b\\c\nd"# + "\r" + #"\ne"#)
        XCTAssertEqual(PrometheusText.escapeHelp(#"say "hi"\ now"# + "\n"), #"say "hi"\\ now\n"#)
        XCTAssertEqual(PrometheusText.number(1), "1")
        XCTAssertEqual(PrometheusText.number(0.005), "0.005")
        XCTAssertEqual(PrometheusText.number(.infinity), "+Inf")
        XCTAssertEqual(PrometheusText.number(1.5e-7), "1.5e-07")
    }

    func testHTTPAnswers() throws {
        func answer(_ request: String) -> String? {
            MetricsHTTP.response(to: Array(request.utf8)) { "body\n" }.map { String(decoding: $0, as: UTF8.self) }
        }
        XCTAssertNil(answer("GET /metrics HTTP/1.1\r\nHost: x\r\n"), "an incomplete header waits")
        let ok = try XCTUnwrap(answer("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"))
        XCTAssertEqual(ok, "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: 5\r\n"
                       + "Connection: close\r\nServer: socketserverd/\(Daemon.version)\r\n\r\nbody\n")
        XCTAssertTrue(MetricsHTTP.isOwnResponse(Array(ok.utf8)))
        XCTAssertFalse(MetricsHTTP.isOwnResponse(Array("HTTP/1.1 200 OK\r\nServer: nginx\r\n\r\n".utf8)))
        XCTAssertTrue(try XCTUnwrap(answer("HEAD /metrics HTTP/1.0\n\n")).hasSuffix("\r\n\r\n"), "HEAD: no body")
        for (request, status) in [
            ("GET /other HTTP/1.1\r\n\r\n", "404 Not Found"), ("DELETE /metrics HTTP/1.1\r\n\r\n", "405 Method Not Allowed"),
            ("GET /metrics HTTP/3\r\n\r\n", "505 HTTP Version Not Supported"), ("GET /metrics\r\n\r\n", "400 Bad Request"),
            ("GET metrics HTTP/1.1\r\n\r\n", "400 Bad Request"),
            ("GET /metrics HTTP/1.1\r\n" + String(repeating: "a", count: MetricsHTTP.maximumRequest), "431 Request Header Fields Too Large"),
        ] {
            XCTAssertTrue(answer(request)?.hasPrefix("HTTP/1.1 \(status)\r\n") ?? false, "\(request.prefix(40)): \(answer(request) ?? "nil")")
        }
        XCTAssertTrue(answer("POST /metrics HTTP/1.1\r\n\r\n")?.contains("\r\nAllow: GET, HEAD\r\n") ?? false)
    }

    /// Every metric family is documented in the README and both man pages.
    func testEveryMetricIsDocumented() throws {
        for document in ["README.md", "debian/man/socketserverd.8", "debian/man/socketserverd.conf.5"] {
            let text = try XCTUnwrap(readFile(repositoryRoot + "/" + document), document)
            for family in MetricsExposition.families {
                XCTAssertTrue(text.contains(family.name), "\(document) does not document \(family.name)")
            }
        }
    }
}
