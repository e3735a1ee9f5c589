// exec in-process: what the program inherits, a program that exits leaving a job behind, and the
// idle limit both where the program has the connection (TCP) and where the handler relays it (Unix).
// (The daemon-level exec tests are in Tests/socketserverdTests/ExecHandlerTests.swift.)
import Foundation
import XCTest
import SocketServer
import SocketServerHandlers
import SocketServerTestSupport

#if canImport(Glibc)
import Glibc
#endif

final class ExecTests: XCTestCase {
    private var servings: [Serving] = []
    private var socketDirectory: String?

    override func tearDown() {
        servings.forEach { $0.stop() }
        servings = []
        if let socketDirectory { removeTree(socketDirectory) }
        socketDirectory = nil
        reapAdoptedZombies()
    }

    /// The daemon tests, in this same test process, make it a child subreaper: a program's
    /// background job killed after its parent exited is adopted here, and no one else waits for it
    /// (it showed up as a zombie in the library's "no zombies" checks).
    private func reapAdoptedZombies() {
        let me = getpid()
        for name in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = pid_t(name),
                  let stat = try? String(contentsOfFile: "/proc/\(name)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { continue }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count >= 2, fields[0] == "Z", pid_t(fields[1]) == me else { continue }
            var status: Int32 = 0
            _ = waitpid(pid, &status, WNOHANG)
        }
    }

    /// A directory for Unix sockets, removed after the test.
    private func socketPath(_ name: String) throws -> String {
        if socketDirectory == nil { socketDirectory = try makeTemporaryDirectory("exec") }
        return socketDirectory! + "/" + name
    }

    /// The exec server over TCP, where the program has the connection itself, or (`unix`) over a
    /// Unix socket, where an idle limit makes the handler relay the connection to it.
    private func tcp(_ command: String, idleTimeout: Duration? = .seconds(10), unix: Bool = false) throws -> HostStreamServer {
        let address: SocketAddress = unix ? .unix(path: try socketPath("exec-\(servings.count).sock")) : .inet(host: "127.0.0.1", port: 0)
        let server = try HostStreamServer(address, ExecStreamHandler.self, options: ["command": command], socketTimeout: idleTimeout)
        servings.append(try Serving(server))
        return server
    }

    private func udp(_ command: String, idleTimeout: Duration? = .seconds(10)) throws -> HostDatagramServer {
        let server = try HostDatagramServer(.inet(host: "127.0.0.1", port: 0), ExecDatagramHandler.self,
                                            options: ["command": command], socketTimeout: idleTimeout)
        servings.append(try Serving(server))
        return server
    }

    /// Both ways a stream program is served: with the connection (TCP) and relayed (Unix).
    private let transports = [(unix: false, name: "tcp"), (unix: true, name: "unix")]

    /// Connects, half-closes and returns everything the program wrote.
    private func run(_ server: HostStreamServer) throws -> String {
        let client = try connectClient(server.serverAddress)
        try client.shutdown(.write)
        return String(decoding: try readAll(client), as: UTF8.self)
    }

    /// A descriptor without FD_CLOEXEC, as the daemon may inherit one from whoever started it.
    private func leakedDescriptor() throws -> Int32 {
        let null = open("/dev/null", O_RDONLY | O_CLOEXEC)
        XCTAssertGreaterThanOrEqual(null, 0)
        defer { close(null) }
        let fd = fcntl(null, F_DUPFD, 200)  // F_DUPFD leaves FD_CLOEXEC clear
        XCTAssertGreaterThanOrEqual(fd, 200)
        XCTAssertEqual(fcntl(fd, F_GETFD) & FD_CLOEXEC, 0)
        return fd
    }

    /// The descriptor numbers in `ls /proc/self/fd` output.
    private func descriptors(_ output: String) -> Set<Int> {
        Set(output.split(separator: "\n").compactMap { Int($0) })
    }

    func testStreamProgramInheritsOnlyItsStandardDescriptors() throws {
        let leaked = try leakedDescriptor()
        defer { close(leaked) }
        let server = try tcp("/bin/ls /proc/self/fd")
        let fds = descriptors(try run(server))
        XCTAssertFalse(fds.contains(Int(leaked)), "the program inherited descriptor \(leaked): \(fds.sorted())")
        // 0, 1, 2 and the one ls opened to list the directory.
        XCTAssertTrue(fds.isSuperset(of: [0, 1, 2]), "\(fds.sorted())")
        XCTAssertLessThanOrEqual(fds.subtracting([0, 1, 2]).count, 1, "\(fds.sorted())")
    }

    func testDatagramProgramInheritsOnlyItsStandardDescriptors() throws {
        let leaked = try leakedDescriptor()
        defer { close(leaked) }
        let server = try udp("/bin/ls /proc/self/fd")
        let client = try udpClient()
        try client.sendTo(Array("x".utf8), server.serverAddress)
        let fds = descriptors(String(decoding: try client.recvFrom(65536).0, as: UTF8.self))
        XCTAssertFalse(fds.contains(Int(leaked)), "the program inherited descriptor \(leaked): \(fds.sorted())")
        XCTAssertTrue(fds.isSuperset(of: [0, 1, 2]), "\(fds.sorted())")
        XCTAssertLessThanOrEqual(fds.subtracting([0, 1, 2]).count, 1, "\(fds.sorted())")
    }

    func testProgramExitingWithABackgroundJobEndsTheRequest() throws {
        // `sh` exits at once; its background sleep keeps stdout (the connection) and stderr open.
        // The request must end when sh does, not at the timeout, and the sleep must not survive.
        let marker = "sleep 7\(Int.random(in: 100...999)).\(getpid())"
        let server = try tcp("/bin/sh -c 'echo started; echo note-\(getpid()) >&2; \(marker) & exit 3'",
                             idleTimeout: .seconds(6))
        let start = ContinuousClock.now
        XCTAssertEqual(try run(server), "started\n")
        let elapsed = ContinuousClock.now - start
        XCTAssertLessThan(elapsed, .seconds(3), "the request waited for the background job, not for the program")
        eventually(within: .seconds(5), every: .milliseconds(20)) { !processExists(matching: marker) }
        XCTAssertFalse(processExists(matching: marker), "the background job survived the request")
        assertLogged("exited with status 3", server.state)
        XCTAssertTrue(logged("stderr: note-\(getpid())", server.state), "\(server.state.logs.map(\.message))")
        XCTAssertFalse(logged("timeout", server.state), "\(server.state.logs.map(\.message))")
    }

    func testSilentProgramIsKilledAtTheIdleTimeout() throws {
        // The limit applies to the program itself (stderr closed early, still running, silent).
        for transport in transports {
            let marker = "sleep 6\(Int.random(in: 100...999)).\(getpid())"
            let server = try tcp("/bin/sh -c 'exec 2>&-; echo started; exec \(marker)'", idleTimeout: .milliseconds(700), unix: transport.unix)
            let start = ContinuousClock.now
            XCTAssertEqual(try run(server), "started\n", transport.name)
            XCTAssertLessThan(ContinuousClock.now - start, .seconds(5), transport.name)
            assertLogged("killed: no data either way for", server.state)
            XCTAssertFalse(processExists(matching: marker), "\(transport.name): the program survived its timeout")
        }
    }

    func testOutputKeepsAProgramAlivePastTheIdleTimeout() throws {
        // Five lines 300 ms apart: 1.2 s in all, never 700 ms silent.
        for transport in transports {
            let server = try tcp("/bin/sh -c 'for i in 1 2 3 4 5; do echo $i; sleep 0.3; done'", idleTimeout: .milliseconds(700),
                                 unix: transport.unix)
            let start = ContinuousClock.now
            XCTAssertEqual(try run(server), "1\n2\n3\n4\n5\n", transport.name)
            XCTAssertGreaterThan(ContinuousClock.now - start, .milliseconds(1100), transport.name)
            assertLogged("exited with status 0", server.state)
            XCTAssertFalse(logged("no data either way", server.state), "\(transport.name): \(server.state.logs.map(\.message))")
        }
    }

    func testInputKeepsAProgramAlivePastTheIdleTimeout() throws {
        // The program reads without answering until its input ends; the client writes every 300 ms.
        for transport in transports {
            let server = try tcp("/bin/sh -c 'while read line; do :; done; echo read all'", idleTimeout: .milliseconds(700),
                                 unix: transport.unix)
            let client = try connectClient(server.serverAddress)
            for line in 1...5 {
                try client.sendAll("line \(line)\n")
                Thread.sleep(forTimeInterval: 0.3)  // the pace of a slow client, not a wait for anything
            }
            try client.shutdown(.write)
            XCTAssertEqual(String(decoding: try readAll(client), as: UTF8.self), "read all\n", transport.name)
            XCTAssertFalse(logged("no data either way", server.state), "\(transport.name): \(server.state.logs.map(\.message))")
        }
    }

    /// Over TCP the program's stdin and stdout are the connection itself: its peer is the client.
    func testATCPProgramHasTheConnectionItself() throws {
        let server = try tcp("/usr/bin/python3 -c 'import socket; print(socket.socket(fileno=0).getpeername()[1])'")
        let client = try connectClient(server.serverAddress)
        let port = try XCTUnwrap(try client.getSockName().port)
        try client.shutdown(.write)
        XCTAssertEqual(String(decoding: try readAll(client), as: UTF8.self), "\(port)\n")
    }

    /// Over a Unix socket the program has the connection itself when there is no idle limit, and
    /// a socket pair the handler relays when there is one (the relay is how it sees data move).
    func testAUnixProgramIsRelayedOnlyUnderAnIdleLimit() throws {
        let peer = "/usr/bin/python3 -c 'import socket; print(repr(socket.socket(fileno=0).getpeername()))'"
        for idle in [nil, Duration.seconds(10)] {
            let server = try tcp(peer, idleTimeout: idle, unix: true)
            let clientPath = try socketPath(idle == nil ? "client-direct.sock" : "client-relayed.sock")
            let client = try Socket(family: .unix)
            defer { client.close() }
            try client.bind(clientPath)
            try client.setTimeout(ioTimeout)
            try client.connect(server.serverAddress)
            try client.shutdown(.write)
            XCTAssertEqual(String(decoding: try readAll(client), as: UTF8.self), idle == nil ? "'\(clientPath)'\n" : "''\n",
                           "idle limit \(idle.map { "\($0)" } ?? "none")")
        }
    }

    func testSilentDatagramProgramIsKilledAtTheIdleTimeout() throws {
        let marker = "sleep 5\(Int.random(in: 100...999)).\(getpid())"
        let server = try udp("/bin/sh -c 'exec \(marker)'", idleTimeout: .milliseconds(500))
        try udpClient().sendTo(Array("x".utf8), server.serverAddress)
        assertLogged("killed: no data either way for", server.state)
        XCTAssertFalse(processExists(matching: marker), "the program survived its timeout")
    }

    private func logged(_ text: String, _ state: HostState) -> Bool {
        state.logs.contains { $0.message.contains(text) }
    }

    /// Waits up to 3 s for a log line containing `text`; fails without one.
    private func assertLogged(_ text: String, _ state: HostState, file: StaticString = #filePath, line: UInt = #line) {
        eventually(within: .seconds(3), every: .milliseconds(10)) { logged(text, state) }
        XCTAssertTrue(logged(text, state), "\(state.logs.map(\.message))", file: file, line: line)
    }
}
