// What an exec program starts does not outlive it, even in a new session (setsid): not at its
// timeout, not when it exits leaving a job behind, not when its worker is killed, not at stop.
import Foundation
import SocketServer
import SocketServerTestSupport
import XCTest

final class ContainmentTests: DaemonTestCase {
    /// An exec service `name` whose program starts `marker` in a new session, says "started" once
    /// that process runs (it wrote its pid before exec'ing the marker), then runs `rest`.
    func escapingService(_ name: String, marker: String, then rest: String, timeout: Int = 60) -> Service {
        let pidFile = directory + "/" + name + ".pid"
        let program = script(name + ".sh", """
            #!/bin/sh
            rm -f \(pidFile)
            setsid sh -c 'echo $$ > \(pidFile).tmp && mv \(pidFile).tmp \(pidFile) && exec \(marker)' </dev/null >/dev/null 2>&1 &
            while [ ! -s \(pidFile) ]; do sleep 0.01; done
            echo started
            \(rest)

            """)
        return Service(name, handler: "exec", ["command": program, "workers": 1, "timeout": timeout])
    }

    /// Connects, waits for "started" (the escaped process exists), returns the connection.
    func start(port: Int, marker: String) throws -> Socket {
        let socket = try connectTCP(port: port)
        // "started" comes once the escaped process runs: it wrote its pid before exec'ing the marker.
        XCTAssertEqual(try readLine(socket), "started\n")
        return socket
    }

    func testAnEscapedProcessDiesAtTheProgramsTimeout() throws {
        let marker = uniqueSleep()
        let daemon = try startDaemon(service: escapingService("hang", marker: marker, then: "sleep 600", timeout: 1), daemon: ["graceful_timeout": 2])
        let socket = try start(port: daemon.port, marker: marker)
        defer { socket.close() }
        XCTAssertEqual(try socket.recv(64), [], "the connection ends at the timeout")
        XCTAssertTrue(waitForNoProcess(matching: marker), "the setsid process outlived the program's timeout:\n\(daemon.log)")
    }

    func testAJobLeftBehindByAProgramThatExitedIsKilled() throws {
        let marker = uniqueSleep()
        let daemon = try startDaemon(service: escapingService("quick", marker: marker, then: "read line\nexit 0"), daemon: ["graceful_timeout": 2])
        let socket = try start(port: daemon.port, marker: marker)
        defer { socket.close() }
        try socket.sendAll("done\n")  // the program exits; its setsid job stays behind
        XCTAssertEqual(try socket.recv(64), [])
        XCTAssertTrue(waitForNoProcess(matching: marker), "the setsid process outlived its program")
    }

    func testEscapedProcessesDieWithTheirWorkerAndAtStop() throws {
        let killedMarker = uniqueSleep(), stopMarker = uniqueSleep()
        let daemon = try startDaemon(service: escapingService("a", marker: killedMarker, then: "sleep 600"),
                                     escapingService("b", marker: stopMarker, then: "sleep 600"), daemon: ["graceful_timeout": 2])
        let first = try start(port: daemon.port("a"), marker: killedMarker)
        defer { first.close() }
        let worker = daemon.workerPIDs().first { pid in
            childPIDs(of: pid).contains { commandLine(of: $0).contains("a.sh") }
        }
        guard let worker else { return XCTFail("no worker runs a.sh:\n\(daemon.log)") }
        kill(worker, SIGKILL)
        XCTAssertTrue(waitForNoProcess(matching: killedMarker), "the setsid process outlived its killed worker:\n\(daemon.log)")

        let second = try start(port: daemon.port("b"), marker: stopMarker)
        defer { second.close() }
        daemon.signal(SIGTERM)
        XCTAssertNotNil(daemon.waitExit(), daemon.log)
        XCTAssertTrue(waitForNoProcess(matching: stopMarker), "the setsid process outlived the daemon")
    }
}
