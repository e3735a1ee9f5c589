// Every request in flight is on the scoreboard, however large `threads` is: a killed worker takes
// every program its requests started with it and the log names every client; request_timeout
// catches a hung request whatever its place.
import Foundation
import SocketServer
import SocketServerTestSupport
import XCTest

final class RequestTrackingTests: DaemonTestCase {
    /// Opens `count` connections that each got an answer from an exec'd program (so each program runs).
    func openExecConnections(_ count: Int, port: Int) throws -> [Socket] {
        try (0..<count).map { _ in
            let socket = try connectTCP(port: port)
            XCTAssertEqual(try readLine(socket), "started\n")
            return socket
        }
    }

    func testAKilledWorkerTakesEveryProgramWithItAndNamesEveryClient() throws {
        let marker = uniqueSleep()
        let path = script("hold.sh", "#!/bin/sh\necho started\n\(marker)\n")
        let daemon = try startDaemon(service: Service("hold", handler: "exec", ["command": path, "workers": 1, "threads": 48, "timeout": 60]))
        let clients = try openExecConnections(40, port: daemon.port)
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
        let daemon = try startDaemon(service: Service("echo", ["workers": 1, "threads": 64, "request_timeout": 1.5]))
        // 32 requests in flight, then a 33rd; the 32 end and only the 33rd stays, silent.
        let first = try (0..<32).map { _ in try connectTCP(port: daemon.port) }
        for socket in first { XCTAssertEqual(try ask(socket, "x\n"), "x\n") }
        let late = try connectTCP(port: daemon.port)
        XCTAssertEqual(try ask(late, "late\n"), "late\n")
        guard let lateAddress = try? late.getSockName() else { return XCTFail("no address") }
        first.forEach { $0.close() }
        XCTAssertTrue(daemon.waitForLog("request from \(lateAddress) has run for", within: .seconds(20)), daemon.log)
        late.close()
    }
}
