// One client cannot flood the log: what it can cause once per connection (a reset, a refusal by
// `allow`, a bad request) is logged at most once per 10 s per service and kind, with a count, in
// every concurrency model and for datagram services; a line of another kind still shows at once.
import Foundation
import SocketServer
import XCTest

final class LogFloodTests: DaemonTestCase {
    static let cycles = 2000

    func testResetsAreLoggedOncePerIntervalWithTheirCountInEveryModel() throws {
        let models = ["sync", "threads", "fork", "events"]
        let ports = Dictionary(uniqueKeysWithValues: models.map { ($0, freePort()) })
        let uploads = directory + "/uploads"
        XCTAssertEqual(mkdir(uploads, 0o777), 0)
        chmod(uploads, 0o777)
        // Two workers each: the limit is per service, not per worker. The fork service runs
        // upload, whose handler refuses bad requests (another kind, logged at once).
        let daemon = try startDaemon(models.map { model in
            """
            [service \(model)]
            listen = tcp://127.0.0.1:\(ports[model]!)
            handler = \(model == "fork" ? "upload\ndirectory = \(uploads)" : "echo")
            workers = 2
            concurrency = \(model)
            threads = \(model == "events" ? 32 : 4)

            """
        }.joined())
        // Four clients at once, one per service, each connecting and resetting 2,000 times.
        let start = Date()
        let failures = FailureList()
        DispatchQueue.concurrentPerform(iterations: models.count) { index in
            let port = ports[models[index]]!
            for cycle in 0..<Self.cycles {
                do { try connectAndReset(port: port) } catch {
                    failures.append("\(models[index]) #\(cycle): \(error)")
                    return
                }
            }
        }
        XCTAssertEqual(failures.all, [])
        // Within the interval of the resets, a bad request (another kind) is logged at once.
        XCTAssertEqual(try uploadRoundTrip(port: ports["fork"]!, name: "../passwd"), "ERR", daemon.log)
        XCTAssertTrue(daemon.waitForLog("service fork: 127.0.0.1:", timeout: 5), daemon.log)
        XCTAssertTrue(daemon.log.contains("upload refused: invalid filename"), daemon.log)
        // Every cycle is counted in a line, as a reset (or, had the pool or the event loop been
        // full, as a refusal): the last count comes at most 10 s after the last reset.
        let complete = waitUntil {
            let log = daemon.log
            return models.allSatisfy { model in
                let lines = serviceLines(log, model)
                return Tally(lines, Tally.resets).total + Tally(lines, Tally.full).total == Self.cycles
            }
        }
        let log = daemon.log
        XCTAssertTrue(complete, "not every reset was counted:\n\(log)")
        // At most one line per kind per 10 s since the first, and one more with the last count.
        let most = 2 + Int(Date().timeIntervalSince(start) / 10)
        for model in models {
            let lines = serviceLines(log, model)
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
        let tcp = freePort(), udp = freePort()
        let daemon = try startDaemon("""
            [service closed]
            listen = tcp://127.0.0.1:\(tcp)
            handler = echo
            workers = 2
            allow = 10.0.0.0/8

            [service udpclosed]
            listen = udp://127.0.0.1:\(udp)
            handler = echo
            workers = 2
            allow = 10.0.0.0/8
            """)
        let sender = try Socket(family: .inet, type: .datagram)
        defer { sender.close() }
        let start = Date()
        let failures = FailureList()
        DispatchQueue.concurrentPerform(iterations: 2) { index in
            for cycle in 0..<Self.cycles {
                do {
                    if index == 0 {
                        try createConnection(host: "127.0.0.1", port: tcp, timeout: .seconds(5)).close()
                    } else {
                        try sender.sendTo(Array("x".utf8), .inet(host: "127.0.0.1", port: UInt16(udp)))
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
            return expected.allSatisfy { service, count in Tally(serviceLines(log, service), Tally.refusals).total == count }
        }
        let log = daemon.log
        XCTAssertTrue(complete, "not every refusal was counted (expected \(expected)):\n\(log)")
        XCTAssertLessThan(expected["udpclosed"] ?? 0, Self.cycles + 1)
        let most = 2 + Int(Date().timeIntervalSince(start) / 10)
        for service in ["closed", "udpclosed"] {
            let lines = serviceLines(log, service)
            let refusals = Tally(lines, Tally.refusals)
            XCTAssertTrue(lines.first?.contains("service \(service): refused 127.0.0.1:") == true, log)
            XCTAssertGreaterThan(refusals.counted, 0, "no line with the count, service \(service):\n\(log)")
            XCTAssertLessThanOrEqual(lines.count, most, "service \(service):\n\(log)")
        }
    }

    /// The lines a service's policy wrote (`service NAME: …`), not the master's.
    private func serviceLines(_ log: String, _ service: String) -> [String] {
        log.split(separator: "\n").map(String.init).filter { $0.contains("] ") && $0.contains("service \(service): ") }
    }

    /// Polls until `condition` holds, at most 30 s (a count comes 10 s after the line before it).
    private func waitUntil(_ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            if condition() { return true }
            usleep(50_000)
        }
        return condition()
    }
}

/// Failures noted by concurrent clients.
final class FailureList: @unchecked Sendable {
    private let lock = NSLock()
    private var list: [String] = []
    func append(_ failure: String) { lock.withLock { list.append(failure) } }
    var all: [String] { lock.withLock { list } }
}

/// A connection that the client resets (SO_LINGER 0, then close) as soon as it is established.
func connectAndReset(port: Int) throws {
    let socket = try createConnection(host: "127.0.0.1", port: port, timeout: .seconds(5))
    var option = linger(l_onoff: 1, l_linger: 0)
    guard setsockopt(socket.fileno(), SOL_SOCKET, SO_LINGER, &option, socklen_t(MemoryLayout<linger>.size)) == 0 else {
        let code = errno
        socket.close()
        throw SocketError.system(call: "setsockopt SO_LINGER", errno: code)
    }
    socket.close()
}

/// Datagrams the kernel dropped at the UDP socket bound to 127.0.0.1:`port` (its receive buffer
/// was full), from the last column of /proc/net/udp.
func udpDrops(port: Int) -> Int {
    let table = (try? String(contentsOfFile: "/proc/net/udp", encoding: .utf8)) ?? ""
    let local = String(format: "0100007F:%04X", port)
    return table.split(separator: "\n").reduce(0) { sum, row in
        let fields = row.split(separator: " ")
        guard fields.count > 2, fields[1] == local, let drops = Int(fields[fields.count - 1]) else { return sum }
        return sum + drops
    }
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
