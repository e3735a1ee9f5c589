// One client cannot flood the log: what it can cause once per connection (a reset, a refusal by
// `allow`, a bad request) is logged at most once per 10 s per service and kind, with a count, in
// every concurrency model and for datagram services; a line of another kind still shows at once.
import Foundation
import SocketServer
import SocketServerTestSupport
import XCTest

final class LogFloodTests: DaemonTestCase {
    static let cycles = 2000

    func testResetsAreLoggedOncePerIntervalWithTheirCountInEveryModel() throws {
        let models = ["sync", "threads", "fork", "events"]
        let uploads = makeDirectory("uploads")
        XCTAssertTrue(fileExists(uploads))
        // Two workers each: the limit is per service, not per worker. The fork service runs
        // upload, whose handler refuses bad requests (another kind, logged at once).
        let daemon = try startDaemon(DaemonConfigBuilder(services: models.map { model in
            let threads = model == "events" ? 32 : 4
            return model == "fork"
                ? Service(model, handler: "upload", ["directory": uploads, "workers": 2, "concurrency": model, "threads": threads])
                : Service(model, handler: "echo", ["workers": 2, "concurrency": model, "threads": threads])
        }))
        let ports = daemon.ports
        // Four clients at once, one per service, each connecting and resetting 2,000 times.
        let start = Date()
        let failures = FailureList()
        DispatchQueue.concurrentPerform(iterations: models.count) { index in
            let port = ports[models[index]] ?? 0
            for cycle in 0..<Self.cycles {
                do { try connectAndReset(port: port) } catch {
                    failures.append("\(models[index]) #\(cycle): \(error)")
                    return
                }
            }
        }
        XCTAssertEqual(failures.all, [])
        // Within the interval of the resets, a bad request (another kind) is logged at once.
        XCTAssertEqual(try uploadRoundTrip(port: daemon.port("fork"), name: "../passwd"), "ERR", daemon.log)
        XCTAssertTrue(daemon.waitForLog("service fork: 127.0.0.1:", within: .seconds(5)), daemon.log)
        XCTAssertTrue(daemon.log.contains("upload refused: invalid filename"), daemon.log)
        // Every cycle is counted in a line, as a reset (or, had the pool or the event loop been
        // full, as a refusal): the last count comes at most 10 s after the last reset.
        let complete = waitUntil {
            let log = daemon.log
            return models.allSatisfy { model in
                let lines = serviceLines(log, model, master: daemon.pid)
                return Tally(lines, Tally.resets).total + Tally(lines, Tally.full).total == Self.cycles
            }
        }
        let log = daemon.log
        XCTAssertTrue(complete, "not every reset was counted:\n\(log)")
        // At most one line per kind per 10 s since the first, and one more with the last count.
        let most = 2 + Int(Date().timeIntervalSince(start) / 10)
        for model in models {
            let lines = serviceLines(log, model, master: daemon.pid)
            let resets = Tally(lines, Tally.resets)
            XCTAssertGreaterThanOrEqual(resets.events, 1, "service \(model):\n\(log)")
            XCTAssertGreaterThan(resets.counted, 0, "no line with the count, service \(model):\n\(log)")
            XCTAssertLessThanOrEqual(resets.lines, most, "service \(model):\n\(log)")
            XCTAssertLessThanOrEqual(Tally(lines, Tally.full).lines, most, "service \(model):\n\(log)")
            XCTAssertLessThanOrEqual(lines.count, 2 * most + 1, "service \(model):\n\(log)")
            XCTAssertFalse(lines.contains { $0.contains("reset") && $0.contains("error:") }, "a reset is no error:\n\(log)")
        }
    }

    func testAllowRefusalsAreLoggedOncePerIntervalWithTheirCount() throws {
        let daemon = try startDaemon(service: Service("closed", handler: "echo", ["workers": 2, "allow": "10.0.0.0/8"]),
                                     Service("udpclosed", handler: "echo", listen: .udp, ["workers": 2, "allow": "10.0.0.0/8"]))
        let (tcp, udp) = (daemon.port("closed"), daemon.port("udpclosed"))
        let sender = try Socket(family: .inet, type: .datagram)
        defer { sender.close() }
        let start = Date()
        let failures = FailureList()
        DispatchQueue.concurrentPerform(iterations: 2) { index in
            for cycle in 0..<Self.cycles {
                do {
                    if index == 0 {
                        try connectTCP(port: tcp, timeout: .seconds(5)).close()
                    } else {
                        try sender.sendTo(Array("x".utf8), .inet(host: "127.0.0.1", port: udp))
                        if cycle % 50 == 49 { usleep(2_000) }  // pace: few datagrams past the receive buffer
                    }
                } catch {
                    failures.append("#\(index).\(cycle): \(error)")
                    return
                }
            }
        }
        XCTAssertEqual(failures.all, [])
        // Every connection is accepted and refused; every datagram the kernel did not drop is
        // received and refused: each is counted in a line within 10 s.
        var expected = ["closed": Self.cycles, "udpclosed": Self.cycles]
        let complete = waitUntil {
            expected["udpclosed"] = Self.cycles - udpDrops(port: udp)
            let log = daemon.log
            return expected.allSatisfy { service, count in Tally(serviceLines(log, service, master: daemon.pid), Tally.refusals).total == count }
        }
        let log = daemon.log
        XCTAssertTrue(complete, "not every refusal was counted (expected \(expected)):\n\(log)")
        XCTAssertLessThan(expected["udpclosed"] ?? 0, Self.cycles + 1)
        let most = 2 + Int(Date().timeIntervalSince(start) / 10)
        for service in ["closed", "udpclosed"] {
            let lines = serviceLines(log, service, master: daemon.pid)
            let refusals = Tally(lines, Tally.refusals)
            XCTAssertTrue(lines.first?.contains("service \(service): refused 127.0.0.1:") == true, log)
            XCTAssertGreaterThan(refusals.counted, 0, "no line with the count, service \(service):\n\(log)")
            XCTAssertLessThanOrEqual(lines.count, most, "service \(service):\n\(log)")
        }
    }

    /// The lines a service's policy wrote (`service NAME: …`) in the workers, not the master's
    /// (such as the one about the socket it was passed).
    private func serviceLines(_ log: String, _ service: String, master: pid_t) -> [String] {
        log.split(separator: "\n").map(String.init)
            .filter { $0.contains("] ") && !$0.contains("[\(master)] ") && $0.contains("service \(service): ") }
    }

    /// Polls until `condition` holds, at most 30 s (a count comes 10 s after the line before it).
    private func waitUntil(_ condition: () -> Bool) -> Bool {
        eventually(within: .seconds(30), every: .milliseconds(50), condition)
    }
}

/// Failures noted by concurrent clients.
final class FailureList: @unchecked Sendable {
    private let lock = NSLock()
    private var list: [String] = []
    func append(_ failure: String) { lock.withLock { list.append(failure) } }
    var all: [String] { lock.withLock { list } }
}

/// What a service's lines say of one kind of event: the lines written for one event (`message`)
/// and those with a count (`… (and 41 more WHAT since …)`, `41 more WHAT since …`).
struct Tally {
    static let resets = (message: "reset the connection", what: "connections reset by their clients")
    static let refusals = (message: ": refused ", what: "connections refused (not in allow)")
    static let full = (message: " is full (", what: "connections refused as full")

    /// Lines written for one event.
    var events = 0
    /// Events counted in the lines' counts.
    var counted = 0
    /// Lines of this kind.
    var lines = 0
    /// Every event the lines account for.
    var total: Int { events + counted }

    init(_ lines: [String], _ kind: (message: String, what: String)) {
        for line in lines {
            let count = Self.count(before: " more \(kind.what) since the last such line", in: line)
            if line.contains(kind.message) { events += 1 }
            if line.contains(kind.message) || count != nil { self.lines += 1 }
            counted += count ?? 0
        }
    }

    /// The number just before `text` in `line`.
    static func count(before text: String, in line: String) -> Int? {
        guard let range = line.range(of: text) else { return nil }
        return Int(String(line[..<range.lowerBound].reversed().prefix { $0.isNumber }.reversed()))
    }
}
