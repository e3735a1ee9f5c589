// A real server nobody here wrote as a program worker: gunicorn with a small WSGI app, two
// copies sharing the socket (gunicorn reads LISTEN_FDS and sends READY=1 itself), loaded with
// wrk through reloads without an error.
import Foundation
import SocketServer
import SocketServerTestSupport
import XCTest

final class GunicornTests: DaemonTestCase {
    /// The first of `names` found executable in /usr/local/bin, /usr/bin or /bin.
    func installed(_ name: String) -> String? {
        ["/usr/local/bin/", "/usr/bin/", "/bin/"].map { $0 + name }.first { access($0, X_OK) == 0 }
    }

    func testGunicornServesWrkThroughReloadsWithoutAnError() throws {
        guard let gunicorn = installed("gunicorn") else {
            throw XCTSkip("gunicorn is not installed (.ci/run installs Debian's gunicorn): this test did not run")
        }
        guard let wrk = installed("wrk") else { throw XCTSkip("wrk is not installed (.ci/run installs it): this test did not run") }
        let app = makeDirectory("app", mode: 0o755)
        _ = writeFile("""
            import os

            def app(environ, start_response):
                body = b"hello from %d\\n" % os.getpid()
                start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
                return [body]

            """, to: app + "/hello.py", mode: 0o644)
        // Newer gunicorns open a control socket of their own; two copies would collide on it.
        let help = try runProgram(gunicorn, ["--help"]).output
        let options = "--workers 2 --graceful-timeout 5 --worker-tmp-dir /tmp" + (help.contains("--no-control-socket") ? " --no-control-socket" : "")
        let daemon = try startDaemon(service: programService(command: "\(gunicorn) \(options) hello:app", workers: 2, [
            ("ready", "notify"), ("directory", app), ("environment", "PYTHONDONTWRITEBYTECODE=1"),
        ]), daemon: ["graceful_timeout": 10])
        XCTAssertTrue(daemon.waitForLog("is ready (READY=1)", count: 2, within: .seconds(30)), daemon.log)
        let client = try connectTCP(port: daemon.port)
        try client.sendAll("GET / HTTP/1.0\r\n\r\n")
        let reply = try readAllText(client)  // HTTP/1.0: the server closes after its reply
        client.close()
        XCTAssertTrue(reply.hasPrefix("HTTP/1.") && reply.contains(" 200 ") && reply.contains("hello from"), reply)

        let report = directory + "/wrk.txt"
        let load = try spawn(wrk, ["-t2", "-c16", "-d8s", "--latency", "http://127.0.0.1:\(daemon.port)/"],
                             env: ["PATH=/usr/bin:/bin"], stdout: report, stderr: report)
        // The load runs for 8 s; the two reloads come while it does.
        for generation in 2...3 {
            pause(.seconds(2))
            let old = daemon.workerPIDs()
            daemon.signal(SIGHUP)
            XCTAssertNotNil(daemon.waitForStatus("generation \(generation)"), daemon.log)
            XCTAssertTrue(daemon.waitGone(old, within: .seconds(15)), "the old gunicorns retired:\n\(daemon.log)")
        }
        XCTAssertEqual(exitCode(of: load, within: .seconds(30)), 0, readText(report))
        let output = readText(report)
        print("wrk through two reloads of two gunicorn program workers:\n\(output)")
        let requests = Int(output.split(separator: "\n").first { $0.contains(" requests in ") }?
            .trimmingCharacters(in: .whitespaces).split(separator: " ").first ?? "") ?? 0
        XCTAssertGreaterThan(requests, 500, output)
        XCTAssertFalse(output.contains("Socket errors"), "wrk saw errors:\n\(output)")
        XCTAssertFalse(output.contains("Non-2xx or 3xx responses"), "wrk saw failed responses:\n\(output)")
        XCTAssertEqual(daemon.workerPIDs().count, 2, daemon.log)
    }
}
