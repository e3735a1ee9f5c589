// ForkingMixIn: each request in a child; a thrown error runs handleError in the child and makes it
// exit 1; children are reaped while serving and on close (no zombies), many at once too, leaving
// other children of the process alone; blockOnClose; maxChildren.
import CSocketServerShims
import Glibc
import SocketServer
import SocketServerTestSupport
import XCTest

/// A forking TCP server that reports to a pipe: its handleError (which runs in the child) and the
/// handler's start and end.
final class ReportingForkingServer: ForkingTCPServer, @unchecked Sendable {
    var reportFD: Int32 = -1

    func report(_ text: String) {
        let line = Array("\(text)\n".utf8)
        _ = line.withUnsafeBytes { write(reportFD, $0.baseAddress, $0.count) }
    }

    override func handleError(_ error: any Error, request: Request) {
        report("handled \(error) in \(getpid())")
    }
}

/// Reads the request; "fail" throws, "slow" takes 300 ms; replies with the child's pid.
final class ForkHandler: BaseRequestHandler {
    override func handle() throws {
        let server = server as! ReportingForkingServer
        try request.setTimeout(ioTimeout)
        let message = String(decoding: try readAll(request), as: UTF8.self)
        server.report("start \(getpid())")
        if message == "fail" { throw Boom() }
        if message == "slow" { usleep(300_000) }
        server.report("end \(getpid())")
        try request.sendAll("\(getpid())")
    }
}

final class ForkingTests: XCTestCase {
    private var pipeFDs: [Int32] = [-1, -1]

    override func setUpWithError() throws {
        guard cssd_pipe_cloexec(&pipeFDs, 1) == 0 else { throw SocketError.system(call: "pipe2", errno: errno) }
    }

    override func tearDown() {
        close(pipeFDs[0])
        close(pipeFDs[1])
    }

    private func makeServer() throws -> ReportingForkingServer {
        let server = try ReportingForkingServer(loopback4, ForkHandler.self)
        server.reportFD = pipeFDs[1]
        return server
    }

    /// Everything reported so far.
    private func reports() -> [String] {
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = read(pipeFDs[0], &buffer, buffer.count)
            if count <= 0 { break }
            bytes += buffer[..<count]
        }
        return String(decoding: bytes, as: UTF8.self).split(separator: "\n").map(String.init)
    }

    private func sendRequest(_ server: BaseServer, _ text: String) throws -> Socket {
        let client = try connectClient(server.serverAddress)
        try client.sendAll(text)
        try client.shutdown(.write)
        return client
    }

    /// Waits for the one child `handleRequest` forked and returns its exit status.
    private func exitStatusOfOnlyChild(_ server: ReportingForkingServer) throws -> (pid: pid_t, status: Int32) {
        let children = server.activeChildren
        XCTAssertEqual(children.count, 1)
        let pid = try XCTUnwrap(children.first)
        XCTAssertNotEqual(pid, getpid())
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0, errno == EINTR {}
        XCTAssertEqual(status & 0x7f, 0, "the child exited rather than died of signal \(status & 0x7f)")
        return (pid, (status >> 8) & 0xff)
    }

    /// One request of `text` through `handleRequest`, which forks and does no reaping: the child is
    /// the test's to wait for. The server and the client (the caller closes both), the child's pid
    /// and exit status.
    private func forkOneRequest(_ text: String) throws -> (server: ReportingForkingServer, client: Socket, pid: pid_t, status: Int32) {
        let server = try makeServer()
        server.timeout = ioTimeout
        let client = try sendRequest(server, text)
        try server.handleRequest()
        let (pid, status) = try exitStatusOfOnlyChild(server)
        return (server, client, pid, status)
    }

    func testErrorInChildCallsHandleErrorThereAndExitsNonZero() throws {
        let (server, client, pid, status) = try forkOneRequest("fail")
        defer { server.serverClose(); client.close() }
        XCTAssertEqual(status, 1, "a child whose handler threw exits 1")
        XCTAssertEqual(reports(), ["start \(pid)", "handled boom in \(pid)"], "handleError ran in the child")
        XCTAssertEqual(try readAll(client), [], "the failed request was closed")
        server.collectChildren()
        XCTAssertEqual(server.activeChildren, [], "an already reaped child is forgotten")
    }

    func testSuccessfulChildExitsZero() throws {
        let (server, client, pid, status) = try forkOneRequest("hello")
        defer { server.serverClose(); client.close() }
        XCTAssertEqual(status, 0)
        XCTAssertEqual(String(decoding: try readAll(client), as: UTF8.self), "\(pid)")
        XCTAssertEqual(reports(), ["start \(pid)", "end \(pid)"])
        server.collectChildren()
        XCTAssertEqual(server.activeChildren, [])
    }

    func testChildrenAreReapedWhileServing() throws {
        let server = try makeServer()
        try withServing(server) { server in
            var pids: Set<String> = []
            for _ in 0..<5 {
                let client = try sendRequest(server, "hi")
                defer { client.close() }
                pids.insert(String(decoding: try readAll(client), as: UTF8.self))
            }
            XCTAssertEqual(pids.count, 5, "a new child per request")
            XCTAssertFalse(pids.contains("\(getpid())"))
            XCTAssertTrue(eventually { server.activeChildren.isEmpty }, "reaped by serviceActions: \(server.activeChildren)")
            XCTAssertEqual(zombieChildren(), [])
        }
        XCTAssertEqual(server.activeChildren, [])
        XCTAssertEqual(zombieChildren(), [])
    }

    /// With more than a few children the mix-in asks the kernel which one exited instead of asking
    /// each: all are reaped, also while another child of the process (not the server's) lies
    /// unreaped as a zombie, which stays the process's own to wait for.
    func testManyChildrenAreReapedAndAnotherChildsZombieIsLeftAlone() throws {
        // A backlog for all 8 clients at once (Python's default of 5 would hold the last ones back).
        let server = try ReportingForkingServer(loopback4, ForkHandler.self, bindAndActivate: false)
        server.reportFD = pipeFDs[1]
        server.requestQueueSize = 16
        try server.serverBind()
        try server.serverActivate()
        var foreign: pid_t = 0
        try withServing(server) { server in
            for round in 0..<2 {
                if round == 1 {
                    foreign = try spawnProcess("/bin/true", arguments: [], environment: [])
                    XCTAssertTrue(eventually { zombieChildren().contains(foreign) }, "/bin/true exited")
                }
                let clients = try (0..<8).map { _ in try sendRequest(server, "slow") }
                defer { clients.forEach { $0.close() } }
                XCTAssertTrue(eventually { server.activeChildren.count > 4 }, "more than 4 children at once: \(server.activeChildren)")
                let pids = try clients.map { String(decoding: try readAll($0), as: UTF8.self) }
                XCTAssertEqual(Set(pids).count, 8)
                XCTAssertTrue(eventually { server.activeChildren.isEmpty }, "round \(round): \(server.activeChildren) not reaped")
            }
            XCTAssertEqual(zombieChildren(), [foreign], "the server reaped only its own children")
        }
        var status: Int32 = -1
        XCTAssertEqual(waitpid(foreign, &status, 0), foreign)
        XCTAssertEqual(status, 0)
        XCTAssertEqual(zombieChildren(), [])
    }

    func testServerCloseWaitsForChildrenWhenBlockOnClose() throws {
        let server = try makeServer()
        XCTAssertTrue(server.blockOnClose)
        let background = try BackgroundServer(server)
        let client = try sendRequest(server, "slow")
        defer { client.close() }
        XCTAssertTrue(eventually { !server.activeChildren.isEmpty }, "the child was forked")
        background.stop()
        XCTAssertEqual(server.activeChildren, [], "serverClose waited for the child")
        XCTAssertEqual(zombieChildren(), [])
        let lines = reports()
        XCTAssertEqual(lines.count, 2)
        XCTAssertTrue(lines.last?.hasPrefix("end ") ?? false, "the child finished before serverClose returned: \(lines)")
    }

    func testServerCloseDoesNotWaitWithoutBlockOnClose() throws {
        let server = try makeServer()
        server.blockOnClose = false
        XCTAssertFalse(server.blockOnClose)
        let background = try BackgroundServer(server)
        let client = try sendRequest(server, "slow")
        defer { client.close() }
        XCTAssertTrue(eventually { !server.activeChildren.isEmpty })
        let elapsed = timed { background.stop() }
        XCTAssertLessThan(elapsed, .milliseconds(250), "serverClose returned while the child still ran")
        XCTAssertEqual(server.activeChildren.count, 1)
        server.collectChildren(blocking: true)
        XCTAssertEqual(server.activeChildren, [])
        XCTAssertEqual(zombieChildren(), [])
    }

    func testMaxChildrenBoundsConcurrentChildren() throws {
        let server = try makeServer()
        server.maxChildren = 1
        XCTAssertEqual(server.maxChildren, 1)
        try withServing(server) { server in
            let clients = try (0..<2).map { _ in try sendRequest(server, "slow") }
            defer { clients.forEach { $0.close() } }
            let pids = try clients.map { String(decoding: try readAll($0), as: UTF8.self) }
            XCTAssertEqual(Set(pids).count, 2)
        }
        let lines = reports()
        XCTAssertEqual(lines.map { $0.split(separator: " ")[0] }, ["start", "end", "start", "end"],
                       "with maxChildren 1 the second child starts after the first ended: \(lines)")
        XCTAssertEqual(zombieChildren(), [])
    }
}
