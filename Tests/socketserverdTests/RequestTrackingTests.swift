// Every request in flight is on the scoreboard, however large `threads` is: a killed worker takes
// every program its requests started with it and the log names every client; request_timeout
// catches a hung request whatever its place.
import Foundation
import SocketServer
import XCTest

final class RequestTrackingTests: DaemonTestCase {
    /// Opens `count` connections that each got an answer from an exec'd program (so each program runs).
    func openExecConnections(_ count: Int, port: Int) throws -> [Socket] {
        try (0..<count).map { _ in
            let socket = try createConnection(host: "127.0.0.1", port: port, timeout: .seconds(10))
            let line = try socket.recv(64)
            XCTAssertEqual(String(decoding: line, as: UTF8.self), "started\n")
            return socket
        }
    }

    func testAKilledWorkerTakesEveryProgramWithItAndNamesEveryClient() throws {
        let port = freePort()
        let marker = uniqueSleep()
        let path = directory + "/hold.sh"
        writeConfig("#!/bin/sh\necho started\n\(marker)\n", to: path)
        chmod(path, 0o755)
        let daemon = try startDaemon("""
            [service hold]
            listen = tcp://127.0.0.1:\(port)
            handler = exec
            command = \(path)
            workers = 1
            threads = 48
            timeout = 60
            """)
        let clients = try openExecConnections(40, port: port)
        defer { clients.forEach { $0.close() } }
        XCTAssertTrue(processExists(matching: marker))
        guard let worker = daemon.workerPIDs().first else { return XCTFail("no worker") }
        kill(worker, SIGKILL)
        XCTAssertTrue(daemon.waitForLog("was killed by SIGKILL while serving 40 clients: "), daemon.log)
        XCTAssertTrue(waitForNoProcess(matching: marker), "programs outlived their worker")
        let line = daemon.log.components(separatedBy: "\n").first { $0.contains("while serving 40 clients") } ?? ""
        for client in clients {
            guard let address = try? client.getSockName() else { continue }
            XCTAssertTrue(line.contains("\(address)"), "\(address) not named: \(line)")
        }
    }

    func testTheRequestPastTheThirtySecondIsTimedOut() throws {
        let port = freePort()
        let daemon = try startDaemon("""
            [service echo]
            listen = tcp://127.0.0.1:\(port)
            handler = echo
            workers = 1
            threads = 64
            request_timeout = 1.5
            """)
        // 32 requests in flight, then a 33rd; the 32 end and only the 33rd stays, silent.
        let first = try (0..<32).map { _ in try createConnection(host: "127.0.0.1", port: port, timeout: .seconds(5)) }
        for socket in first {
            try socket.sendAll("x\n")
            XCTAssertEqual(try socket.recv(16), Array("x\n".utf8))
        }
        let late = try createConnection(host: "127.0.0.1", port: port, timeout: .seconds(5))
        try late.sendAll("late\n")
        XCTAssertEqual(try late.recv(16), Array("late\n".utf8))
        guard let lateAddress = try? late.getSockName() else { return XCTFail("no address") }
        first.forEach { $0.close() }
        XCTAssertTrue(daemon.waitForLog("request from \(lateAddress) has run for", timeout: 20), daemon.log)
        late.close()
    }
}
