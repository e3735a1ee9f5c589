// The access log with real clients: one line per connection (or datagram) under every concurrency,
// parsed back and matched to the requests made (client port, bytes, result), lines that reach
// the file within a second and before a worker exits, USR1 rotation, stderr, and a reload.
import Foundation
import SocketServer
import SocketServerTestSupport
import XCTest

final class AccessLogServiceTests: DaemonTestCase {
    var accessLog: String { directory + "/access.log" }

    /// A round trip of `size` bytes on a new connection to `port`; returns the client's port.
    func exchange(port: Int, size: Int, file: StaticString = #filePath, line: UInt = #line) throws -> Int {
        let socket = try connectTCP(port: port)
        defer { socket.close() }
        let message = String(repeating: "a", count: size - 1) + "\n"
        XCTAssertEqual(try ask(socket, message), message, file: file, line: line)
        return try localPort(socket)
    }

    func testEachConnectionHasALineWithItsClientBytesAndResult() throws {
        let models = ["sync", "threads", "fork", "events"]
        let daemon = try startDaemon(service: Service("sync", handler: "echo", ["workers": 2, "concurrency": "sync"]),
                                     Service("threads", handler: "echo", ["workers": 2]),
                                     Service("fork", handler: "echo", ["workers": 2, "concurrency": "fork"]),
                                     Service("events", handler: "echo", ["workers": 2, "concurrency": "events"]),
                                     Service("udp", handler: "echo", listen: .udp, ["workers": 2]),
                                     daemon: ["access_log": accessLog])
        var made: [Int: (service: String, size: Int)] = [:]
        for (index, model) in models.enumerated() {
            for request in 0..<5 {
                let size = 10 + 100 * index + request
                made[try exchange(port: daemon.port(model), size: size)] = (model, size)
            }
        }
        let udp = try udpClient()
        defer { udp.close() }
        try udp.sendTo(Array("a datagram".utf8), .inet(host: "127.0.0.1", port: daemon.port("udp")))
        XCTAssertEqual(try udp.recvFrom(100).0.count, 10)
        made[try localPort(udp)] = ("udp", 10)

        let workers = Set(daemon.workerPIDs())
        let lines = waitForAccessLines(accessLog, clientPorts: Array(made.keys))
        XCTAssertEqual(lines.count, made.count, readText(accessLog))
        for (port, request) in made {
            guard let line = lines[port] else { continue }
            XCTAssertEqual(line.service, request.service, line.text)
            XCTAssertEqual(line.client, "127.0.0.1:\(port)", line.text)
            XCTAssertEqual(line.bytesIn, request.size, line.text)
            XCTAssertEqual(line.bytesOut, request.size, line.text)
            XCTAssertEqual(line.result, "ok", line.text)
            XCTAssertTrue(line.worker.map(workers.contains) ?? false, "worker= names a worker (\(workers)): \(line.text)")
            XCTAssertNotNil(line.duration, line.text)
            XCTAssertNotNil(line["ts"]?.range(of: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"#, options: .regularExpression), line.text)
            XCTAssertEqual(Array(line.fields.keys).sorted(),
                           ["bytes_in", "bytes_out", "client", "duration", "result", "service", "ts", "worker"], line.text)
        }
    }

    func testTimeoutResetAndKilledResults() throws {
        let daemon = try startDaemon(service: Service("echo", ["workers": 1, "timeout": 1]),
                                     Service("events", handler: "echo", ["workers": 1, "timeout": 1, "concurrency": "events"]),
                                     Service("hang", handler: "exec", ["workers": 1, "command": "/bin/sleep 30", "request_timeout": 1]),
                                     daemon: ["access_log": accessLog])
        var expected: [Int: String] = [:]
        for service in ["echo", "events"] {
            let silent = try connectTCP(port: daemon.port(service))
            defer { silent.close() }
            XCTAssertTrue(try readAll(silent).isEmpty, "a silent client is closed at timeout")
            expected[try localPort(silent)] = "timeout"
        }
        let reset = try connectTCP(port: daemon.port("echo"))
        XCTAssertEqual(try ask(reset, "then reset\n"), "then reset\n")
        let resetPort = try localPort(reset)
        var option = linger(l_onoff: 1, l_linger: 0)
        setsockopt(reset.fileno(), SOL_SOCKET, SO_LINGER, &option, socklen_t(MemoryLayout<linger>.size))
        reset.close()
        expected[resetPort] = "reset"
        let hung = try connectTCP(port: daemon.port("hang"))
        defer { hung.close() }
        XCTAssertTrue(daemon.waitForLog("request_timeout"), daemon.log)
        expected[try localPort(hung)] = "killed"

        let lines = waitForAccessLines(accessLog, clientPorts: Array(expected.keys))
        for (port, result) in expected {
            XCTAssertEqual(lines[port]?.result, result, "client port \(port):\n\(readText(accessLog))")
        }
        XCTAssertEqual(lines[resetPort]?.bytesIn, 11, "what came before the reset")
    }

    func testLinesReachTheFileWithinASecondAndBeforeTheWorkerExits() throws {
        let daemon = try startDaemon(service: Service("echo", ["workers": 1]), daemon: ["access_log": accessLog])
        let port = try exchange(port: daemon.port, size: 6)
        let waited = timed { _ = waitForAccessLines(accessLog, clientPorts: [port], within: .seconds(5)) }
        XCTAssertNotNil(waitForAccessLines(accessLog, clientPorts: [port], within: .zero)[port], readText(accessLog))
        XCTAssertLessThan(waited, .milliseconds(1500), "the line took \(waited)")

        // A stop right after a request: the worker writes its line as it exits.
        let last = try exchange(port: daemon.port, size: 7)
        daemon.signal(SIGTERM)
        XCTAssertNotNil(daemon.waitExit())
        XCTAssertEqual(waitForAccessLines(accessLog, clientPorts: [last], within: .zero)[last]?.bytesIn, 7, readText(accessLog))
    }

    func testUSR1ReopensTheAccessLogForEveryWorker() throws {
        let daemon = try startDaemon(service: Service("echo", ["workers": 2]), daemon: ["access_log": accessLog])
        let before = try exchange(port: daemon.port, size: 5)
        XCTAssertEqual(waitForAccessLines(accessLog, clientPorts: [before]).count, 1)
        try FileManager.default.moveItem(atPath: accessLog, toPath: accessLog + ".1")
        daemon.signal(SIGUSR1)
        XCTAssertTrue(daemon.waitForLog("SIGUSR1: log reopened"), daemon.log)
        XCTAssertTrue(fileExists(accessLog), "the master opens the file again")
        // Enough connections that both workers serve some.
        let after = try (0..<10).map { _ in try exchange(port: daemon.port, size: 8) }
        XCTAssertEqual(waitForAccessLines(accessLog, clientPorts: after).count, after.count, readText(accessLog))
        XCTAssertEqual(accessLogLines(accessLog + ".1").compactMap(\.clientPort), [before], "the rotated file gets nothing more")
    }

    func testStderrAndAReloadThatTurnsTheFileOn() throws {
        let daemon = try startDaemon(service: Service("echo", ["workers": 1]), daemon: ["access_log": "stderr"])
        let port = try exchange(port: daemon.port, size: 9)
        XCTAssertTrue(daemon.waitForLog("client=127.0.0.1:\(port) "), daemon.log)

        try rewriteConfig(DaemonConfigBuilder(daemon: ["access_log": accessLog], services: [Service("echo", ["workers": 1])]), for: daemon)
        daemon.signal(SIGHUP)
        XCTAssertNotNil(daemon.waitForStatus("generation 2"), daemon.log)
        let later = try (0..<3).map { _ in try exchange(port: daemon.port, size: 4) }
        XCTAssertEqual(waitForAccessLines(accessLog, clientPorts: later).count, 3, readText(accessLog) + daemon.log)
        XCTAssertFalse(readText(accessLog).contains("client=127.0.0.1:\(port) "), "the file holds what came after the reload")
    }
}
