// handler = program: long-lived programs as workers, sharing the listening socket the master
// hands them as systemd's socket activation does, on every listener kind.
import Foundation
import SocketServer
import SocketServerTestSupport
import XCTest

final class ProgramWorkerTests: DaemonTestCase {
    func testTwoProgramWorkersShareTheSocketAndBothAnswer() throws {
        let daemon = try startEchoPrograms(workers: 2, [("ready", "notify")], gracefulTimeout: 5)
        XCTAssertTrue(daemon.waitForLog("is ready (READY=1)", count: 2), daemon.log)
        let workers = daemon.workerPIDs()
        XCTAssertEqual(workers.count, 2, daemon.log)
        XCTAssertEqual(try answeringPIDs(port: daemon.port, wanted: 2), Set(workers), "both programs answer:\n\(daemon.log)")
        XCTAssertEqual(try tcpRoundTrip(port: daemon.port, "echo me\n"), "echo me\n")
        for pid in workers {
            XCTAssertTrue(daemon.log.contains("service app: program \(pid): serving ('127.0.0.1', \(daemon.port)) as pid \(pid)"),
                          "a program's output is in the log with its service and pid:\n\(daemon.log)")
        }
    }

    func testProgramsServeEveryListenerKind() throws {
        let program = testProgram("activation_echo.py")
        let stream = directory + "/app.sock", gram = directory + "/app.dgram"
        var services = [
            programService("tcp", command: program, workers: 1),
            programService("udp", command: program, listen: .udp, workers: 1),
            programService("unix", command: program, listen: .address("unix:\(stream)"), workers: 1, [("socket_mode", "0666")]),
            programService("unixgram", command: program, listen: .address("unixgram:\(gram)"), workers: 1, [("socket_mode", "0666")]),
        ]
        if hasIPv6Loopback { services.append(programService("tcp6", command: program, listen: .tcp6, workers: 1)) }
        let daemon = try startDaemon(DaemonConfigBuilder(daemon: ["graceful_timeout": 5], services: services))

        XCTAssertEqual(try tcpRoundTrip(port: daemon.port("tcp"), "over tcp\n"), "over tcp\n")
        XCTAssertEqual(try udpRoundTrip(port: daemon.port("udp"), "over udp"), "over udp")
        XCTAssertEqual(try streamExchange(.unix(path: stream), "over unix\n"), "over unix\n")
        XCTAssertEqual(try datagramExchange(.unix(path: gram), "over unixgram", clientPath: directory + "/client.dgram"),
                       "over unixgram")
        if hasIPv6Loopback {
            XCTAssertEqual(try tcpRoundTrip(port: daemon.port("tcp6"), "over v6\n", host: "::1"), "over v6\n")
        }
        daemon.signal(SIGTERM)
        XCTAssertEqual(daemon.waitExit(), 0, daemon.log)
        XCTAssertFalse(fileExists(stream))
        XCTAssertFalse(fileExists(gram))
    }

    /// What the program sees, read from /proc while it runs: descriptors 0-3 only (the socket as
    /// 3), its own process group, no signal blocked or ignored, no capability, the workers' user,
    /// its directory, and exactly the environment the master gives it.
    func testTheProgramGetsTheSocketAndEnvironmentAsSystemdGivesThem() throws {
        let sleeper = uniqueSleep()
        let workDirectory = makeDirectory("work", mode: 0o755)
        let daemon = try startDaemon(service: programService(command: "/bin/\(sleeper)", workers: 1, [
            ("ready", "notify"), ("start_timeout", "60"), ("directory", workDirectory),
            ("environment", "APP_ENV=production \"GREETING=hello world\" LANG=C"),
        ]))
        let pid = try XCTUnwrap(daemon.workerPIDs().first, daemon.log)
        XCTAssertEqual(commandLine(of: pid), "/bin/\(sleeper)")

        let descriptors = openDescriptors(of: pid)
        XCTAssertEqual(descriptors.keys.sorted(), [0, 1, 2, 3], "\(descriptors)")
        XCTAssertEqual(descriptors[0], "/dev/null")
        XCTAssertEqual(descriptors[1], descriptors[2], "stdout and stderr are one pipe to the log")
        XCTAssertTrue(descriptors[1]?.hasPrefix("pipe:") == true, "\(descriptors)")
        XCTAssertEqual(descriptors[3], "socket:[\(try XCTUnwrap(listenerInode(port: daemon.port)))]", "fd 3 is the listener")

        let status = processStatus(pid)
        func field(_ name: String) -> String? { status[name] }
        XCTAssertEqual(field("SigBlk"), "0000000000000000")
        XCTAssertEqual(field("SigIgn"), "0000000000000000")
        for set in ["CapInh", "CapPrm", "CapEff", "CapAmb"] { XCTAssertEqual(field(set), "0000000000000000", set) }
        XCTAssertEqual(field("NoNewPrivs"), "1")
        if geteuid() == 0 {
            XCTAssertEqual(field("Uid")?.split(separator: "\t").first, "65534", "as root, programs run as nobody")
        }
        XCTAssertEqual(statFields(pid)?[2], "\(pid)", "it leads its own process group")
        XCTAssertEqual(linkTarget("/proc/\(pid)/cwd"), workDirectory)

        var environment = readBytes("/proc/\(pid)/environ").map { nulSeparated($0) } ?? []
        let notifySocket = try XCTUnwrap(environment.first { $0.hasPrefix("NOTIFY_SOCKET=@") }, "\(environment)")
        XCTAssertFalse(notifySocket.hasSuffix(daemon.notify.displayPath), "never the daemon's own NOTIFY_SOCKET")
        environment.removeAll { $0 == notifySocket }
        XCTAssertEqual(environment.sorted(), [
            "APP_ENV=production", "GREETING=hello world", "LANG=C", "LISTEN_FDNAMES=app", "LISTEN_FDS=1", "LISTEN_PID=\(pid)",
            "PATH=/usr/bin:/bin", "SERVICE=app",
        ])
    }

    /// A program's descendants die with it, even one that left its process group and session.
    func testEveryDescendantIsKilledWhenItsProgramEnds() throws {
        let (inGroup, escaped) = (uniqueSleep(), uniqueSleep())
        let daemon = try startDaemon(service: programService(
            command: "/bin/sh -c '\(inGroup) & setsid \(escaped) & echo spawned; exec sleep 1000'", workers: 1),
            daemon: ["graceful_timeout": 2])
        XCTAssertTrue(daemon.waitForLog("spawned"), daemon.log)
        XCTAssertTrue(eventually { processExists(matching: inGroup) && processExists(matching: escaped) })
        daemon.signal(SIGTERM)
        XCTAssertEqual(daemon.waitExit(), 0, daemon.log)
        XCTAssertTrue(waitForNoProcess(matching: inGroup), "a job of the program outlived it")
        XCTAssertTrue(waitForNoProcess(matching: escaped), "a process that escaped with setsid outlived the program")
    }

    func testCheckConfigNamesEveryProgramMistakeWithItsLine() throws {
        let plain = writeFile("data\n", to: directory + "/plain", mode: 0o644)
        let result = try checkConfig("""
            [service app]
            listen = tcp://127.0.0.1:7
            handler = program
            command = \(plain)
            concurrency = threads
            ready = eventually
            stop_signal = STOP
            environment = LISTEN_PID=1

            """)
        XCTAssertNotEqual(result.status, 0, result.output)
        let path = configDirectory + "/check.conf"
        for expected in ["\(path):5: concurrency does not apply to handler 'program'", "\(path):6: ready: must be started or notify",
                         "\(path):7: stop_signal: unknown signal \"STOP\"", "\(path):8: environment: LISTEN_PID is set by socketserverd"] {
            XCTAssertTrue(result.output.contains(expected), "missing \(expected):\n\(result.output)")
        }
        XCTAssertTrue(result.output.contains("\(path):4: command: \(plain) is not executable"), result.output)
    }
}
