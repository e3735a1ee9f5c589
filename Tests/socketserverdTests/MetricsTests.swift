// /metrics as a scraper sees it: every promised series from the start, read back by
// prometheus_client; the HTTP answers; slow clients that cannot stall it; exact counts after
// known traffic across workers, a reload and a killed worker.
import Foundation
import SocketServer
import SocketServerTestSupport
import XCTest

final class MetricsTests: MetricsTestCase {
    func testEverySeriesExistsFromTheStart() throws {
        let port = freePort()
        let odd = #"odd "name\ here"#  // a label value that must be escaped
        let before = Double(time(nil))
        let daemon = try startDaemon(config(metrics: "tcp://127.0.0.1:\(port)", echo(), echo(odd, workers: 1)))
        let metrics = try scrape(loopback(port))
        assertEverySeries(metrics, services: ["echo", odd])
        // Nothing was served yet: every count is 0, whatever counts it.
        for (sample, _) in Self.serviceSeries where sample != "socketserverd_workers" {
            XCTAssertEqual(metrics.value(sample, ["service": "echo"]), 0, sample)
        }
        for reason in Self.refusalReasons {
            XCTAssertEqual(metrics.value("socketserverd_refused_total", ["service": odd, "reason": reason]), 0, reason)
        }
        XCTAssertEqual(metrics.value("socketserverd_reloads_total", ["result": "failed"]), 0)
        XCTAssertEqual(metrics.value("socketserverd_reloads_total", ["result": "ok"]), 0)
        XCTAssertEqual(metrics.value("socketserverd_generation"), 1)
        let started = try XCTUnwrap(metrics.value("socketserverd_start_time_seconds"))
        XCTAssertTrue((before - 1)...(Double(time(nil)) + 1) ~= started, "start time \(started), test began at \(before)")
        XCTAssertEqual(metrics.value("socketserverd_connection_duration_seconds_count", ["service": odd]), 0)
        XCTAssertEqual(metrics.value("socketserverd_connection_duration_seconds_sum", ["service": odd]), 0)
        // The version label is the binary's.
        let version = try runDaemonBinary(["--version"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertEqual(version, "socketserverd 1.0.0")
        XCTAssertTrue(daemon.log.contains("metrics process"), daemon.log)
    }

    /// Only GET and HEAD of /metrics are served; every answer closes its connection.
    func testHTTPAnswers() throws {
        let port = freePort()
        _ = try startDaemon(config(metrics: "tcp://127.0.0.1:\(port)", echo(workers: 1)))
        let address = loopback(port)
        let head = try httpExchange(address, "HEAD /metrics HTTP/1.0\r\n\r\n")
        XCTAssertEqual(head.status, 200)
        XCTAssertEqual(head.body, "", "HEAD has no body")
        XCTAssertGreaterThan(Int(head.headers["content-length"] ?? "") ?? 0, 1000)
        XCTAssertEqual(head.headers["connection"], "close")
        let query = try httpExchange(address, "GET /metrics?name[]=x HTTP/1.0\n\n")  // bare LF lines, a query
        XCTAssertEqual(query.status, 200)
        XCTAssertTrue(query.body.contains("socketserverd_info{version=\"1.0.0\"} 1\n"), query.body)
        XCTAssertEqual(try httpExchange(address, "GET / HTTP/1.1\r\nHost: x\r\n\r\n").status, 404)
        XCTAssertEqual(try httpExchange(address, "GET /metricsx HTTP/1.1\r\n\r\n").status, 404)
        let post = try httpExchange(address, "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n")
        XCTAssertEqual(post.status, 405)
        XCTAssertEqual(post.headers["allow"], "GET, HEAD")
        XCTAssertEqual(try httpExchange(address, "GET /metrics HTTP/2.0\r\n\r\n").status, 505)
        XCTAssertEqual(try httpExchange(address, "hello\r\n\r\n").status, 400)
        let huge = "GET /metrics HTTP/1.1\r\n" + String(repeating: "X-Filler: 0123456789abcdef\r\n", count: 400) + "\r\n"
        XCTAssertEqual(try httpExchange(address, huge).status, 431)
    }

    /// Silent and slow clients are closed at the per-client timeout; meanwhile a scrape is answered
    /// at once, and even with every connection slot taken a scrape waits no longer than that timeout.
    func testSlowClientsCannotStallTheMetricsProcess() throws {
        let port = freePort()
        _ = try startDaemon(config(metrics: "tcp://127.0.0.1:\(port)", echo(workers: 1)))
        let address = loopback(port)
        let silent = try connectClient(address)
        defer { silent.close() }
        let dribbling = try connectClient(address)
        defer { dribbling.close() }
        try dribbling.sendAll("GET /met")
        let answered = timed { XCTAssertEqual((try? scrapeMetrics(address))?.status, 200) }
        XCTAssertLessThan(answered, .seconds(2), "a scrape waited for slow clients")
        // The silent one is closed by the server, within its timeout (5 s) and some slack.
        let closed = timed { XCTAssertEqual(try? readAll(silent), []) }
        XCTAssertLessThan(closed, .seconds(8))
        let full = try (0..<16).map { _ in try connectClient(address) }
        defer { full.forEach { $0.close() } }
        let waited = timed { XCTAssertEqual((try? scrapeMetrics(address))?.status, 200) }
        XCTAssertLessThan(waited, .seconds(8), "a scrape behind 16 silent clients")
    }

    /// Known traffic to two workers, a reload, a killed worker: the exact figures, read by
    /// prometheus_client.
    func testExactCountsAcrossWorkersAReloadAndAKilledWorker() throws {
        let port = freePort()
        let daemon = try startDaemon(config(metrics: "tcp://127.0.0.1:\(port)", echo()))
        let address = loopback(port)
        let message = "hello metrics\n"
        let perRound = 10
        for _ in 0..<perRound { XCTAssertEqual(try tcpRoundTrip(port: daemon.port, message), message) }
        let first = try scrape(address, until: "socketserverd_served_total", ["service": "echo"], reaches: Double(perRound))
        assertCounts(first, service: "echo", connections: perRound, bytes: perRound * message.utf8.count)

        try rewriteConfig(config(metrics: "tcp://127.0.0.1:\(port)", echo()), for: daemon)
        daemon.signal(SIGHUP)
        XCTAssertNotNil(daemon.waitForStatus("generation 2"), daemon.log)
        for _ in 0..<perRound { XCTAssertEqual(try tcpRoundTrip(port: daemon.port, message), message) }
        // A worker of the new generation: one of the old, retiring, would not count as a restart.
        let victim = try XCTUnwrap(daemon.workerPIDs().first { commandLine(of: $0).contains("worker echo (generation 2)") })
        kill(victim, SIGKILL)
        XCTAssertTrue(daemon.waitForLog("worker \(victim) (service echo) was killed by SIGKILL"), daemon.log)
        for _ in 0..<perRound { XCTAssertEqual(try tcpRoundTrip(port: daemon.port, message), message) }
        let last = try scrape(address, until: "socketserverd_served_total", ["service": "echo"], reaches: Double(3 * perRound))
        assertCounts(last, service: "echo", connections: 3 * perRound, bytes: 3 * perRound * message.utf8.count)
        XCTAssertEqual(last.value("socketserverd_worker_restarts_total", ["service": "echo"]), 1, "the killed worker")
        // The killed worker's replacement starts after its back-off.
        let replaced = try scrape(address, until: "socketserverd_workers", ["service": "echo"], reaches: 2)
        XCTAssertEqual(replaced.value("socketserverd_workers", ["service": "echo"]), 2)
        XCTAssertEqual(last.value("socketserverd_reloads_total", ["result": "ok"]), 1)
        XCTAssertEqual(last.value("socketserverd_reloads_total", ["result": "failed"]), 0)
    }

    /// The master's figures: the workers gauge and the reload totals, a failed reload included.
    func testWorkerGaugeAndReloadTotals() throws {
        let port = freePort()
        let daemon = try startDaemon(config(metrics: "tcp://127.0.0.1:\(port)", echo(), echo("one", workers: 1)))
        let address = loopback(port)
        try rewriteConfig(config(metrics: "tcp://127.0.0.1:\(port)", echo(), echo("one", workers: 1)), for: daemon)
        daemon.signal(SIGHUP)
        XCTAssertNotNil(daemon.waitForStatus("generation 2"), daemon.log)
        let reloaded = try scrape(address, until: "socketserverd_generation", [:], reaches: 2)
        XCTAssertEqual(reloaded.value("socketserverd_reloads_total", ["result": "ok"]), 1)
        rewriteConfig("[service broken]\nlisten = nowhere\n")
        daemon.signal(SIGHUP)
        XCTAssertNotNil(daemon.waitForStatus("reload failed"), daemon.log)
        let failed = try scrape(address, until: "socketserverd_reloads_total", ["result": "failed"], reaches: 1)
        XCTAssertEqual(failed.value("socketserverd_reloads_total", ["result": "ok"]), 1)
        XCTAssertEqual(failed.value("socketserverd_generation"), 2)
        let gauges = try scrape(address, until: "socketserverd_workers", ["service": "echo"], reaches: 2)
        XCTAssertEqual(gauges.value("socketserverd_workers", ["service": "one"]), 1)
    }
}
