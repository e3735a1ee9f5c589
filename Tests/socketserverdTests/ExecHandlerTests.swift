// handler = exec: inetd-style programs in sh and Python, over streams and datagrams; `timeout` is
// their idle time, `request_timeout` their whole run; a TCP program has the connection itself and
// is counted and logged as any request.
import Foundation
import SocketServer
import SocketServerTestSupport
import XCTest

final class ExecHandlerTests: DaemonTestCase {
    func testShellAndPythonProgramsServeConnections() throws {
        let sh = script("greet.sh", "#!/bin/sh\nread line\necho \"hello $line from $REMOTE_ADDR\"\necho 'a note' >&2\n")
        let py = script("upper.py", "#!/usr/bin/python3\nimport os, sys\nfor line in sys.stdin:\n    sys.stdout.write(line.upper())\n    sys.stdout.flush()\n")
        let daemon = try startDaemon(service: Service("sh", handler: "exec", ["command": sh, "workers": 1]),
                                     Service("py", handler: "exec", ["command": "/usr/bin/python3 \(py)", "workers": 1, "concurrency": "fork"]),
                                     Service("udp", handler: "exec", listen: .udp, ["command": "/usr/bin/python3 \(py)", "workers": 1]))
        XCTAssertEqual(try tcpRoundTrip(port: daemon.port("sh"), "world\n"), "hello world from 127.0.0.1\n")
        XCTAssertTrue(daemon.waitForLog("greet.sh["), daemon.log)
        XCTAssertTrue(daemon.log.contains("stderr: a note"), daemon.log)
        XCTAssertEqual(try tcpRoundTrip(port: daemon.port("py"), "one line\n"), "ONE LINE\n")
        XCTAssertEqual(try udpRoundTrip(port: daemon.port("udp"), "a datagram\n"), "A DATAGRAM\n")
    }

    func testSilentProgramIsKilledAtTimeoutAndFailureIsLogged() throws {
        let marker = uniqueSleep()
        let hang = script("hang.sh", "#!/bin/sh\necho started\n\(marker)\n")
        let fail = script("fail.sh", "#!/bin/sh\necho partial\nexit 7\n")
        let daemon = try startDaemon(service: Service("hang", handler: "exec", ["command": hang, "timeout": 1, "workers": 1]),
                                     Service("fail", handler: "exec", ["command": fail, "workers": 1]))
        let socket = try connectTCP(port: daemon.port("hang"))
        let start = Date()
        XCTAssertEqual(try readAllText(socket), "started\n")
        XCTAssertLessThan(Date().timeIntervalSince(start), 8, "the program outlived the timeout")
        XCTAssertTrue(daemon.waitForLog("killed: no data either way for 1"), daemon.log)
        XCTAssertTrue(waitForNoProcess(matching: marker), "the program's child survived")

        let failing = try connectTCP(port: daemon.port("fail"))
        XCTAssertEqual(try readAllText(failing), "partial\n")
        XCTAssertTrue(daemon.waitForLog("exited with status 7"), daemon.log)
    }

    /// A program that writes every 0.3 s is never idle for `timeout = 1`: it runs until
    /// `request_timeout` ends the request (the master kills its worker, and the program with it).
    func testTalkingProgramOutlivesTimeoutUntilRequestTimeout() throws {
        let ticker = script("tick.sh", "#!/bin/sh\nwhile :; do echo tick; sleep 0.3; done\n")
        let daemon = try startDaemon(service: Service("tick", handler: "exec",
                                                      ["command": ticker, "timeout": 1, "request_timeout": 2.5, "workers": 1]))
        let socket = try connectTCP(port: daemon.port)
        let local = try socket.getSockName()
        let start = Date()
        let ticks = try readAllText(socket).split(separator: "\n").count
        XCTAssertLessThan(Date().timeIntervalSince(start), 10, "request_timeout did not end the request")
        XCTAssertGreaterThan(ticks, 5, "the program ran past its timeout (1 s) while it talked")
        XCTAssertTrue(daemon.waitForLog("service tick: request from \(local) has run for"), daemon.log)
        XCTAssertFalse(daemon.log.contains("no data either way"), daemon.log)
        XCTAssertTrue(waitForNoProcess(matching: ticker), "the program outlived its worker")
    }

    /// Over TCP the program has the connection itself (no relay): blocking and without the
    /// kernel's wait limit the worker uses for `timeout` (SO_RCVTIMEO, SO_SNDTIMEO), as a program
    /// expects. Its requests are still counted (status: served) and logged (access log: one `ok`
    /// line per connection), its stderr still reaches the log, and its exit ends the connection.
    func testAProgramWithTheConnectionIsCountedAndLogged() throws {
        let accessLog = directory + "/access.log"
        let program = script("peer.py", """
            #!/usr/bin/python3
            import os, socket, sys
            line = sys.stdin.readline()
            connection = socket.socket(fileno=0)
            limits = [connection.getsockopt(socket.SOL_SOCKET, option, 16) for option in (socket.SO_RCVTIMEO, socket.SO_SNDTIMEO)]
            waits = "no wait limit" if all(byte == 0 for limit in limits for byte in limit) else "a wait limit"
            blocking = "blocking" if os.get_blocking(0) else "non-blocking"
            print(connection.getpeername()[1], line.strip(), blocking, waits, flush=True)
            print("served", line.strip(), file=sys.stderr)

            """)
        let daemon = try startDaemon(service: Service("peer", handler: "exec", ["command": "/usr/bin/python3 \(program)", "workers": 2]),
                                     daemon: ["access_log": accessLog, "control_socket": directory + "/control.sock"])
        var ports: [Int] = []
        for request in 0..<3 {
            let socket = try connectTCP(port: daemon.port)
            defer { socket.close() }
            let port = try localPort(socket)
            try socket.sendAll("request \(request)\n")
            XCTAssertEqual(try readAllText(socket), "\(port) request \(request) blocking no wait limit\n",
                           "the program's peer is the client itself, on a plain blocking descriptor")
            ports.append(port)
        }
        let lines = waitForAccessLines(accessLog, clientPorts: ports)
        XCTAssertEqual(lines.count, 3, readText(accessLog))
        for port in ports {
            XCTAssertEqual(lines[port]?.result, "ok", lines[port]?.text ?? "no line for \(port)")
            XCTAssertEqual(lines[port]?.service, "peer")
        }
        let status = try daemonStatus { ($0.service("peer")?["served"] as? Int) == 3 }
        XCTAssertEqual(status.service("peer")?["served"] as? Int, 3)
        XCTAssertTrue(eventually { (0..<3).allSatisfy { daemon.log.contains("stderr: served request \($0)") } }, daemon.log)
    }

    /// Started with stdin and stdout closed (a careless init script), the daemon fills them with
    /// /dev/null first: no socket or log takes their numbers, and a program's stdout and stderr
    /// still go where they belong (the client, the log).
    func testClosedStandardDescriptorsAtStartChangeNothing() throws {
        let sh = script("two.sh", "#!/bin/sh\necho 'to the client'\necho 'to the log' >&2\n")
        let daemon = try startDaemon(service: Service("sh", handler: "exec", ["command": sh, "workers": 1]), wrapper: "exec 0<&- 1>&-;")
        XCTAssertEqual(try tcpRoundTrip(port: daemon.port, "x\n"), "to the client\n")
        XCTAssertTrue(daemon.waitForLog("stderr: to the log"), daemon.log)
        let targets = [0, 1].map { fd in linkTarget("/proc/\(daemon.pid)/fd/\(fd)") ?? "closed" }
        XCTAssertEqual(targets, ["/dev/null", "/dev/null"])
    }

    /// Programs run in / (as inetd's) unless the service's `directory` says otherwise; what they
    /// write on stderr is logged at info.
    func testProgramsRunInRootOrTheirDirectoryAndStderrIsLoggedAtInfo() throws {
        let pwd = script("pwd.sh", "#!/bin/sh\npwd\necho 'where am I' >&2\n")
        let work = directory + "/work"
        XCTAssertEqual(mkdir(work, 0o755), 0)
        chmod(work, 0o755)
        let daemon = try startDaemon(service: Service("root", handler: "exec", ["command": pwd, "workers": 1]),
                                     Service("there", handler: "exec", ["command": pwd, "directory": work, "workers": 1]))
        XCTAssertEqual(try tcpRoundTrip(port: daemon.port("root"), "x\n"), "/\n")
        XCTAssertEqual(try tcpRoundTrip(port: daemon.port("there"), "x\n"), realPath(work) + "\n")
        func stderrLines() -> [Substring] { daemon.log.split(separator: "\n").filter { $0.contains("stderr: where am I") } }
        XCTAssertTrue(eventually { stderrLines().count == 2 }, daemon.log)
        let lines = stderrLines()
        XCTAssertTrue(lines.allSatisfy { $0.contains(" info: ") }, "\(lines)")
    }

    func testMissingProgramIsAConfigError() throws {
        let path = writeConfig("[service x]\nlisten = tcp://127.0.0.1:7\nhandler = exec\ncommand = /nonexistent/prog -v\n", to: configDirectory + "/x.conf")
        let result = try runDaemonBinary(["-t", "-c", path])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.output.contains("x.conf:4:") && result.output.contains("/nonexistent/prog"), result.output)
    }
}
