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
        // The resets of each service: one line at the first, one with the count once 10 s have passed.
        for model in models {
            XCTAssertTrue(waitForLine(daemon, model, containing: ResetLines.summary), daemon.log)
        }
        let log = daemon.log
        for model in models {
            let lines = serviceLines(log, model)
            let resets = ResetLines(lines)
            XCTAssertLessThanOrEqual(lines.count, model == "fork" ? 5 : 4, "service \(model):\n\(log)")
            XCTAssertGreaterThanOrEqual(resets.events, 1, "service \(model):\n\(log)")
            // Every cycle that reached the handler as a reset is counted; some end as a clean end of file.
            XCTAssertGreaterThan(resets.total, Self.cycles / 2, "service \(model):\n\(log)")
            XCTAssertLessThanOrEqual(resets.total, Self.cycles, "service \(model):\n\(log)")
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
        let failures = FailureList()
        DispatchQueue.concurrentPerform(iterations: 2) { index in
            for cycle in 0..<Self.cycles {
                do {
                    if index == 0 {
                        try createConnection(host: "127.0.0.1", port: tcp, timeout: .seconds(5)).close()
                    } else {
                        try sender.sendTo(Array("x".utf8), .inet(host: "127.0.0.1", port: UInt16(udp)))
                        if cycle % 50 == 49 { usleep(2_000) }  // within the socket's receive buffer
                    }
                } catch {
                    failures.append("#\(index).\(cycle): \(error)")
                    return
                }
            }
        }
        XCTAssertEqual(failures.all, [])
        for service in ["closed", "udpclosed"] {
            XCTAssertTrue(daemon.waitForLog("service \(service): refused 127.0.0.1:"), daemon.log)
            XCTAssertTrue(waitForLine(daemon, service, containing: RefusalLines.summary), daemon.log)
        }
        let log = daemon.log
        for service in ["closed", "udpclosed"] {
            let lines = serviceLines(log, service)
            XCTAssertLessThanOrEqual(lines.count, 3, "service \(service):\n\(log)")
            let total = RefusalLines(lines).total
            // Every connection is accepted and refused; a datagram may be dropped by the kernel.
            if service == "closed" {
                XCTAssertEqual(total, Self.cycles, log)
            } else {
                XCTAssertGreaterThan(total, Self.cycles / 2, log)
                XCTAssertLessThanOrEqual(total, Self.cycles, log)
            }
        }
    }

    /// Waits (up to 20 s: the count comes 10 s after the first line) for a line of `service` with `text`.
    private func waitForLine(_ daemon: DaemonProcess, _ service: String, containing text: String) -> Bool {
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            if serviceLines(daemon.log, service).contains(where: { $0.contains(text) }) { return true }
            usleep(50_000)
        }
        return false
    }

    /// The lines a service's policy wrote (`service NAME: …`), not the master's.
    private func serviceLines(_ log: String, _ service: String) -> [String] {
        log.split(separator: "\n").map(String.init).filter { $0.contains("] ") && $0.contains("service \(service): ") }
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

/// The count in a line such as `… (and 41 more … since the last such line; …)` or `41 more …`:
/// the number before `" more " + what`.
func countBefore(_ what: String, in line: String) -> Int? {
    guard let range = line.range(of: " more " + what) else { return nil }
    let digits = line[..<range.lowerBound].reversed().prefix { $0.isNumber }
    return Int(String(digits.reversed()))
}

/// What a service's lines say of the connections its clients reset.
struct ResetLines {
    static let summary = " more connections reset by their clients since the last such line"
    /// Lines written for one reset (with, maybe, the count of those since the last line).
    var events = 0
    /// Every reset those lines account for.
    var total = 0

    init(_ lines: [String]) {
        for line in lines {
            if line.contains("reset the connection") { events += 1; total += 1 }
            total += countBefore("connections reset by their clients", in: line) ?? 0
        }
    }
}

/// What a service's lines say of the clients `allow` refused.
struct RefusalLines {
    static let summary = " more connections refused (not in allow) since the last such line"
    var total = 0

    init(_ lines: [String]) {
        for line in lines {
            if line.contains(": refused ") { total += 1 }
            total += countBefore("connections refused (not in allow)", in: line) ?? 0
        }
    }
}
