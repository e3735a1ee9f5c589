// exec in-process: what the program inherits.
// (The daemon-level exec tests are in Tests/socketserverdTests/ExecHandlerTests.swift.)
import Foundation
import XCTest
import SocketServer
import SocketServerHandlers

#if canImport(Glibc)
import Glibc
#endif

final class ExecTests: XCTestCase {
    private var serving: Serving?

    override func tearDown() {
        serving?.stop()
        serving = nil
    }

    private func tcp(_ command: String, requestTimeout: Duration? = .seconds(10)) throws -> HostStreamServer {
        let server = try HostStreamServer(.inet(host: "127.0.0.1", port: 0), ExecStreamHandler.self,
                                          options: ["command": command], requestTimeout: requestTimeout)
        serving = try Serving(server)
        return server
    }

    private func udp(_ command: String, requestTimeout: Duration? = .seconds(10)) throws -> HostDatagramServer {
        let server = try HostDatagramServer(.inet(host: "127.0.0.1", port: 0), ExecDatagramHandler.self,
                                            options: ["command": command], requestTimeout: requestTimeout)
        serving = try Serving(server)
        return server
    }

    /// Connects, half-closes and returns everything the program wrote.
    private func run(_ server: HostStreamServer) throws -> String {
        let client = try connectClient(server.serverAddress)
        try client.shutdown(.write)
        return String(decoding: try readToEnd(client), as: UTF8.self)
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
        let client = try Socket(family: .inet, type: .datagram)
        try client.setTimeout(clientTimeout)
        try client.sendTo(Array("x".utf8), server.serverAddress)
        let fds = descriptors(String(decoding: try client.recvFrom(65536).0, as: UTF8.self))
        XCTAssertFalse(fds.contains(Int(leaked)), "the program inherited descriptor \(leaked): \(fds.sorted())")
        XCTAssertTrue(fds.isSuperset(of: [0, 1, 2]), "\(fds.sorted())")
        XCTAssertLessThanOrEqual(fds.subtracting([0, 1, 2]).count, 1, "\(fds.sorted())")
    }
}
