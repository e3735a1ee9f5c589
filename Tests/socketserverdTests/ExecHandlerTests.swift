// handler = exec: inetd-style programs in sh and Python, over streams and datagrams.
import Foundation
import SocketServer
import XCTest

final class ExecHandlerTests: DaemonTestCase {
    /// Writes an executable script into the test directory.
    func script(_ name: String, _ text: String) -> String {
        let path = directory + "/" + name
        writeConfig(text, to: path)
        chmod(path, 0o755)
        return path
    }

    func testShellAndPythonProgramsServeConnections() throws {
        let shPort = freePort(), pyPort = freePort(), udpPort = freePort()
        let sh = script("greet.sh", "#!/bin/sh\nread line\necho \"hello $line from $REMOTE_ADDR\"\necho 'a note' >&2\n")
        let py = script("upper.py", "#!/usr/bin/python3\nimport os, sys\nfor line in sys.stdin:\n    sys.stdout.write(line.upper())\n    sys.stdout.flush()\n")
        let daemon = try startDaemon("""
            [service sh]
            listen = tcp://127.0.0.1:\(shPort)
            handler = exec
            command = \(sh)
            workers = 1

            [service py]
            listen = tcp://127.0.0.1:\(pyPort)
            handler = exec
            command = /usr/bin/python3 \(py)
            workers = 1
            concurrency = fork

            [service udp]
            listen = udp://127.0.0.1:\(udpPort)
            handler = exec
            command = /usr/bin/python3 \(py)
            workers = 1
            """)
        XCTAssertEqual(try tcpRoundTrip(port: shPort, "world\n"), "hello world from 127.0.0.1\n")
        XCTAssertTrue(daemon.waitForLog("greet.sh["), daemon.log)
        XCTAssertTrue(daemon.log.contains("stderr: a note"), daemon.log)
        XCTAssertEqual(try tcpRoundTrip(port: pyPort, "one line\n"), "ONE LINE\n")
        XCTAssertEqual(try datagramRoundTrip(.inet(host: "127.0.0.1", port: UInt16(udpPort)), "a datagram\n"), "A DATAGRAM\n")
    }

    func testHangingProgramIsKilledAtTimeoutAndFailureIsLogged() throws {
        let hangPort = freePort(), failPort = freePort()
        let marker = uniqueSleep()
        let hang = script("hang.sh", "#!/bin/sh\necho started\n\(marker)\n")
        let fail = script("fail.sh", "#!/bin/sh\necho partial\nexit 7\n")
        let daemon = try startDaemon("""
            [service hang]
            listen = tcp://127.0.0.1:\(hangPort)
            handler = exec
            command = \(hang)
            timeout = 1
            workers = 1

            [service fail]
            listen = tcp://127.0.0.1:\(failPort)
            handler = exec
            command = \(fail)
            workers = 1
            """)
        let socket = try createConnection(host: "127.0.0.1", port: hangPort, timeout: .seconds(10))
        let start = Date()
        let output = String(decoding: try readAll(socket), as: UTF8.self)
        XCTAssertEqual(output, "started\n")
        XCTAssertLessThan(Date().timeIntervalSince(start), 8, "the program outlived the timeout")
        XCTAssertTrue(daemon.waitForLog("still running after the service's timeout"), daemon.log)
        XCTAssertTrue(waitForNoProcess(matching: marker), "the program's child survived")

        let failing = try createConnection(host: "127.0.0.1", port: failPort, timeout: .seconds(5))
        XCTAssertEqual(String(decoding: try readAll(failing), as: UTF8.self), "partial\n")
        XCTAssertTrue(daemon.waitForLog("exited with status 7"), daemon.log)
    }

    /// Started with stdin and stdout closed (a careless init script), the daemon fills them with
    /// /dev/null first: no socket or log takes their numbers, and a program's stdout and stderr
    /// still go where they belong (the client, the log).
    func testClosedStandardDescriptorsAtStartChangeNothing() throws {
        let port = freePort()
        let sh = script("two.sh", "#!/bin/sh\necho 'to the client'\necho 'to the log' >&2\n")
        let path = writeConfig("""
            [service sh]
            listen = tcp://127.0.0.1:\(port)
            handler = exec
            command = \(sh)
            workers = 1
            """, to: configDirectory + "/socketserverd.conf")
        let daemon = try DaemonProcess(configPath: path, directory: directory, wrapper: "exec 0<&- 1>&-;")
        daemons.append(daemon)
        try daemon.waitReady()
        XCTAssertEqual(try tcpRoundTrip(port: port, "x\n"), "to the client\n")
        XCTAssertTrue(daemon.waitForLog("stderr: to the log"), daemon.log)
        let targets = [0, 1].map { fd in
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(daemon.pid)/fd/\(fd)")) ?? "closed"
        }
        XCTAssertEqual(targets, ["/dev/null", "/dev/null"])
    }

    func testMissingProgramIsAConfigError() throws {
        let path = writeConfig("[service x]\nlisten = tcp://127.0.0.1:7\nhandler = exec\ncommand = /nonexistent/prog -v\n", to: configDirectory + "/x.conf")
        let out = directory + "/out.txt"
        let pid = try spawn(DaemonProcess.binaryPath, ["-t", "-c", path], env: [], stdout: out, stderr: out)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        let text = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(text.contains("x.conf:4:") && text.contains("/nonexistent/prog"), text)
    }
}
