// `socketserverd scale SERVICE N` sets one service's worker count until the next reload, and the
// control socket stays the operator's: clients that stall or flood it never hold up the master.
import Foundation
import SocketServer
import SocketServerTestSupport
import XCTest

final class ControlScaleTests: DaemonTestCase {
    var controlPath: String { directory + "/control.sock" }

    func config(_ services: Service...) -> DaemonConfigBuilder {
        DaemonConfigBuilder(daemon: ["graceful_timeout": 5, "control_socket": controlPath], services: services)
    }

    func scale(_ arguments: String...) throws -> ProcessOutput {
        try runDaemonBinary(["scale", "--config", configPath] + arguments)
    }

    func testScaleGrowsKeepingTheWorkersAndShrinksRetiringTheNewest() throws {
        let built = config(Service("echo", ["workers": 2]), Service("other", handler: "upper", ["workers": 1]))
        let daemon = try startDaemon(built)
        var status = try daemonStatus { $0.workerPIDs("echo").count == 2 }
        let first = status.workerPIDs("echo")

        var result = try scale("echo", "4")
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertEqual(result.stdout, "service echo: 4 workers (was 2) until the next reload\n")
        status = try daemonStatus { $0.workerPIDs("echo").count == 4 }
        let grown = status.workerPIDs("echo")
        XCTAssertEqual(grown.count, 4, daemon.log)
        XCTAssertTrue(Set(first).isSubset(of: grown), "the running workers were replaced: \(first) → \(grown)")
        XCTAssertEqual(status.service("echo")?["wanted"] as? Int, 4)
        XCTAssertEqual(status.workerPIDs("other").count, 1, "another service changed")
        XCTAssertEqual(try tcpRoundTrip(port: daemon.port("echo")), "hello\n")

        // Down to one: the two workers started last go first, then the newer of the first two.
        result = try scale("echo", "1")
        XCTAssertEqual(result.status, 0, result.output)
        status = try daemonStatus { $0.workerPIDs("echo").count == 1 }
        XCTAssertEqual(status.workerPIDs("echo"), [first.min()!], "the oldest worker stays")
        XCTAssertEqual(daemon.workerPIDs().count, 2)

        // TTIN still adds one to every service, the scaled one included.
        daemon.signal(SIGTTIN)
        status = try daemonStatus { $0.workerPIDs("echo").count == 2 && $0.workerPIDs("other").count == 2 }
        XCTAssertEqual(status.workerPIDs("echo").count, 2)
        XCTAssertEqual(status.workerPIDs("other").count, 2)

        // A reload goes back to the config's counts.
        try rewriteConfig(built, for: daemon)
        daemon.signal(SIGHUP)
        XCTAssertNotNil(daemon.waitForStatus("generation 2"), daemon.log)
        status = try daemonStatus {
            $0.workers("echo").allSatisfy { $0["generation"] as? Int == 2 } && $0.workerPIDs("echo").count == 2
                && $0.workerPIDs("other").count == 1
        }
        XCTAssertEqual(status.workerPIDs("echo").count, 2)
        XCTAssertEqual(status.workerPIDs("other").count, 1)
    }

    func testScaleRefusesAnUnknownServiceAndABadCount() throws {
        _ = try startDaemon(config(Service("echo", ["workers": 1])))
        var result = try scale("nope", "3")
        XCTAssertEqual(result.status, 1)
        XCTAssertEqual(result.stderr, "socketserverd: no service 'nope' (services: echo)\n")
        for bad in ["0", "1025", "two", "-1", "3.5"] {
            result = try scale("echo", bad)
            XCTAssertEqual(result.status, 2, "N = \(bad): \(result.output)")
            XCTAssertTrue(result.stderr.contains("N must be a whole number from 1 to 1024") || result.stderr.contains("unknown argument"),
                          result.stderr)
        }
        result = try runDaemonBinary(["scale", "--config", configPath, "echo"])
        XCTAssertEqual(result.status, 2)
        XCTAssertTrue(result.stderr.contains("scale needs SERVICE and N"), result.stderr)
        XCTAssertEqual(try daemonStatus().workerPIDs("echo").count, 1, "nothing changed")
    }

    /// Clients that connect and send nothing, send a line that never ends, or flood the socket
    /// cost the master nothing: clients are served, signals handled, and each stalled connection is
    /// closed by the master within its time limit; then `status` answers again.
    func testStalledAndFloodingControlClientsNeverHoldUpTheMaster() throws {
        let daemon = try startDaemon(config(Service("echo", ["workers": 1])))
        // Seven that send nothing and one that sends half a line take every connection the master
        // serves at once; five more are over the limit.
        var silent: [Socket] = []
        defer { silent.forEach { $0.close() } }
        for _ in 0..<7 { silent.append(try connectClient(.unix(path: controlPath))) }
        let partial = try connectClient(.unix(path: controlPath))
        defer { partial.close() }
        try partial.sendAll("stat")
        var over: [Socket] = []
        defer { over.forEach { $0.close() } }
        for _ in 0..<5 { over.append(try connectClient(.unix(path: controlPath))) }
        let started = ContinuousClock.now
        XCTAssertEqual(try tcpRoundTrip(port: daemon.port), "hello\n")
        daemon.signal(SIGTTIN)
        XCTAssertNotNil(daemon.waitForStatus(": 1 services, 2 workers,"), "the master did not act on TTIN:\n\(daemon.log)")
        // Those over the limit are told at once; the others are closed by the master, unanswered.
        XCTAssertEqual(try over.map { try readAllText($0) }, Array(repeating: "error: busy, try again\n", count: 5))
        XCTAssertEqual(try silent.map { try readAllText($0) }, Array(repeating: "", count: 7))
        XCTAssertEqual(try readAllText(partial), "")
        XCTAssertLessThan(started.duration(to: .now), .seconds(6), "stalled connections were kept too long")
        XCTAssertEqual(try daemonStatus().workerPIDs("echo").count, 2)

        // A request line over the limit is refused in one line.
        let long = try connectClient(.unix(path: controlPath))
        defer { long.close() }
        try long.sendAll(String(repeating: "x", count: 4096) + "\n")
        XCTAssertEqual(try readAllText(long), "error: request longer than 512 bytes\n")
        let unknown = try connectClient(.unix(path: controlPath))
        defer { unknown.close() }
        try unknown.sendAll("reboot\n")
        XCTAssertTrue(try readAllText(unknown).hasPrefix("error: unknown request 'reboot'"))
    }
}
