// What an exec program starts does not outlive it, even in a new session (setsid): not at its
// timeout, not when it exits leaving a job behind, not when its worker is killed, not at stop.
import Foundation
import SocketServer
import XCTest

final class ContainmentTests: DaemonTestCase {
    /// A program that starts `marker` in a new session, says "started" once that process runs (it
    /// wrote its pid), then does `rest`.
    func escapingProgram(_ name: String, marker: String, then rest: String) -> String {
        let path = directory + "/" + name
        let pidFile = directory + "/" + name + ".pid"
        writeConfig("""
            #!/bin/sh
            rm -f \(pidFile)
            setsid sh -c 'echo $$ > \(pidFile).tmp && mv \(pidFile).tmp \(pidFile) && exec \(marker)' </dev/null >/dev/null 2>&1 &
            while [ ! -s \(pidFile) ]; do sleep 0.01; done
            echo started
            \(rest)

            """, to: path)
        chmod(path, 0o755)
        return path
    }

    func config(_ port: Int, _ command: String, timeout: Int = 60) -> String {
        """
        [daemon]
        graceful_timeout = 2

        [service escape]
        listen = tcp://127.0.0.1:\(port)
        handler = exec
        command = \(command)
        workers = 1
        timeout = \(timeout)
        """
    }

    /// Connects, waits for "started" (the escaped process exists), returns the connection.
    func start(port: Int, marker: String) throws -> Socket {
        let socket = try createConnection(host: "127.0.0.1", port: port, timeout: .seconds(10))
        // "started" comes once the escaped process runs: it wrote its pid before exec'ing the marker.
        XCTAssertEqual(String(decoding: try socket.recv(64), as: UTF8.self), "started\n")
        return socket
    }

    func testAnEscapedProcessDiesAtTheProgramsTimeout() throws {
        let port = freePort(), marker = uniqueSleep()
        let daemon = try startDaemon(config(port, escapingProgram("hang.sh", marker: marker, then: "sleep 600"), timeout: 1))
        let socket = try start(port: port, marker: marker)
        defer { socket.close() }
        XCTAssertEqual(try socket.recv(64), [], "the connection ends at the timeout")
        XCTAssertTrue(waitForNoProcess(matching: marker), "the setsid process outlived the program's timeout:\n\(daemon.log)")
    }

    func testAJobLeftBehindByAProgramThatExitedIsKilled() throws {
        let port = freePort(), marker = uniqueSleep()
        _ = try startDaemon(config(port, escapingProgram("quick.sh", marker: marker, then: "read line\nexit 0")))
        let socket = try start(port: port, marker: marker)
        defer { socket.close() }
        try socket.sendAll("done\n")  // the program exits; its setsid job stays behind
        XCTAssertEqual(try socket.recv(64), [])
        XCTAssertTrue(waitForNoProcess(matching: marker), "the setsid process outlived its program")
    }

    func testEscapedProcessesDieWithTheirWorkerAndAtStop() throws {
        let killedPort = freePort(), stopPort = freePort()
        let killedMarker = uniqueSleep(), stopMarker = uniqueSleep()
        let daemon = try startDaemon(config(killedPort, escapingProgram("a.sh", marker: killedMarker, then: "sleep 600"))
            + "\n" + config(stopPort, escapingProgram("b.sh", marker: stopMarker, then: "sleep 600"))
                .replacingOccurrences(of: "[daemon]\ngraceful_timeout = 2\n", with: "")
                .replacingOccurrences(of: "[service escape]", with: "[service escape2]"))
        let first = try start(port: killedPort, marker: killedMarker)
        defer { first.close() }
        let worker = daemon.workerPIDs().first { pid in
            (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) != nil
                && DaemonProcess.childPIDs(of: pid).contains { child in
                    ((try? String(contentsOfFile: "/proc/\(child)/cmdline", encoding: .utf8)) ?? "").contains("a.sh")
                }
        }
        guard let worker else { return XCTFail("no worker runs a.sh:\n\(daemon.log)") }
        kill(worker, SIGKILL)
        XCTAssertTrue(waitForNoProcess(matching: killedMarker), "the setsid process outlived its killed worker:\n\(daemon.log)")

        let second = try start(port: stopPort, marker: stopMarker)
        defer { second.close() }
        daemon.signal(SIGTERM)
        XCTAssertNotNil(daemon.waitExit(), daemon.log)
        XCTAssertTrue(waitForNoProcess(matching: stopMarker), "the setsid process outlived the daemon")
    }
}
