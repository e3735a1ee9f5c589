// SocketAddress: parsing and printing IPv4, IPv6, Unix paths and abstract names; the kernel's
// Unix path limit (pathTooLong, never a truncated bind); getAddrInfo and createConnection.
import Glibc
import SocketServer
import SocketServerTestSupport
import XCTest

final class SocketAddressTests: XCTestCase {
    func testIPv4ParsingAndDescription() throws {
        let address = try SocketAddress(parsing: "127.0.0.1:8080")
        XCTAssertEqual(address, .inet(host: "127.0.0.1", port: 8080))
        XCTAssertEqual(address.description, "127.0.0.1:8080")
        XCTAssertEqual(address.family, .inet)
        XCTAssertEqual(address.host, "127.0.0.1")
        XCTAssertEqual(address.port, 8080)
        XCTAssertFalse(address.isAbstract)
        XCTAssertEqual(try SocketAddress(parsing: address.description), address, "description parses back")
        XCTAssertEqual(try SocketAddress(host: "", port: 9), .inet(host: "0.0.0.0", port: 9), "\"\" is any IPv4 address")
        XCTAssertEqual(try SocketAddress(parsing: ":9"), .inet(host: "0.0.0.0", port: 9))
    }

    func testIPv6ParsingAndDescription() throws {
        let address = try SocketAddress(parsing: "[::1]:443")
        XCTAssertEqual(address, .inet6(host: "::1", port: 443))
        XCTAssertEqual(address.description, "[::1]:443")
        XCTAssertEqual(address.family, .inet6)
        XCTAssertEqual(try SocketAddress(parsing: address.description), address)
        XCTAssertEqual(try SocketAddress(parsing: "[0:0:0:0:0:0:0:1]:1"), .inet6(host: "::1", port: 1), "canonical text")
        XCTAssertEqual(try SocketAddress(host: "::1", port: 2), .inet6(host: "::1", port: 2))
        XCTAssertEqual(try SocketAddress(host: "[::1]", port: 2), .inet6(host: "::1", port: 2), "brackets are optional")
        XCTAssertEqual(try SocketAddress(host: "fe80::1%lo", port: 3),
                       .inet6(host: "fe80::1", port: 3, scopeID: if_nametoindex("lo")), "a zone becomes the scope id")
    }

    func testScopedIPv6DescriptionKeepsTheZoneAndParsesBack() throws {
        let scoped = try SocketAddress(parsing: "[fe80::1%lo]:80")
        XCTAssertEqual(scoped, .inet6(host: "fe80::1", port: 80, scopeID: if_nametoindex("lo")))
        XCTAssertEqual(scoped.description, "[fe80::1%lo]:80", "a link-local address is useless without its zone")
        XCTAssertEqual(try SocketAddress(parsing: scoped.description), scoped)
        let numeric = SocketAddress.inet6(host: "fe80::2", port: 1, scopeID: 4_000_000)
        XCTAssertEqual(numeric.description, "[fe80::2%4000000]:1", "an index with no interface stays a number")
    }

    func testUnixPathsAndAbstractNames() throws {
        let path = try SocketAddress(parsing: "/run/app.sock")
        XCTAssertEqual(path, .unix(path: "/run/app.sock"))
        XCTAssertEqual(path.description, "/run/app.sock")
        XCTAssertEqual(path.family, .unix)
        XCTAssertNil(path.port)
        XCTAssertEqual(try SocketAddress(parsing: "./relative.sock"), .unix(path: "./relative.sock"))

        let abstract = try SocketAddress(parsing: "@socketserverd-test")
        XCTAssertEqual(abstract, .unix(path: "\0socketserverd-test"))
        XCTAssertTrue(abstract.isAbstract)
        XCTAssertEqual(abstract.description, "@socketserverd-test")
        XCTAssertEqual(try SocketAddress(parsing: abstract.description), abstract)
        XCTAssertEqual(SocketAddress.unix(path: "").description, "(unnamed)")
    }

    func testMalformedAddressesAreRejected() {
        for text in ["127.0.0.1", "127.0.0.1:", "127.0.0.1:http", "127.0.0.1:65536", "127.0.0.1:-1",
                     "::1:80", "[::1]", "[::1]80", "[::1:80"] {
            XCTAssertThrowsError(try SocketAddress(parsing: text), text) { error in
                guard case .invalidAddress? = error as? SocketError else { return XCTFail("\(text): \(error)") }
                XCTAssertTrue("\(error)".hasPrefix("invalid address: "), "\(error)")
            }
        }
        XCTAssertThrowsError(try SocketAddress(host: "127.0.0.1", port: 70000))
        XCTAssertThrowsError(try SocketAddress(host: "127.0.0.1", port: -1))
    }

    func testHostNamesResolve() throws {
        let address = try SocketAddress(host: "localhost", port: 80)
        XCTAssertTrue(address == .inet(host: "127.0.0.1", port: 80) || address == .inet6(host: "::1", port: 80), "\(address)")
    }

    func testAbstractAddressBindsAndReportsItsName() throws {
        let name = "\0socketserverd-test-\(getpid())"
        let socket = try Socket(family: .unix, type: .stream)
        defer { socket.close() }
        try socket.bind(.unix(path: name))
        let bound = try socket.getSockName()
        XCTAssertEqual(bound, .unix(path: name))
        XCTAssertTrue(bound.isAbstract)
        try socket.listen()
        let client = try connectClient(bound)
        client.close()
    }

    func testUnixPathAtTheLimitBindsWhole() throws {
        let directory = try TemporaryDirectory()
        let limit = SocketAddress.maximumUnixPathLength
        XCTAssertEqual(limit, 107, "Linux's sun_path is 108 bytes with the NUL")
        var path = directory.path + "/"
        path += String(repeating: "d", count: limit - path.utf8.count)
        XCTAssertEqual(path.utf8.count, limit)
        let socket = try Socket(family: .unix, type: .stream)
        defer { socket.close() }
        try socket.bind(.unix(path: path))
        XCTAssertEqual(try socket.getSockName(), .unix(path: path))
        XCTAssertTrue(fileExists(path))
    }

    func testUnixPathOverTheLimitIsRefusedNotTruncated() throws {
        let directory = try TemporaryDirectory()
        var path = directory.path + "/"
        path += String(repeating: "p", count: SocketAddress.maximumUnixPathLength + 1 - path.utf8.count)
        let truncated = String(path.dropLast())
        let address = SocketAddress.unix(path: path)
        let expected = SocketError.pathTooLong(path: path, maximum: SocketAddress.maximumUnixPathLength)

        let socket = try Socket(family: .unix, type: .stream)
        defer { socket.close() }
        XCTAssertThrowsError(try socket.bind(address)) { XCTAssertEqual($0 as? SocketError, expected) }
        XCTAssertFalse(fileExists(truncated), "no socket file appears under a truncated name")
        XCTAssertFalse(fileExists(path))
        XCTAssertThrowsError(try socket.connect(address)) { XCTAssertEqual($0 as? SocketError, expected) }
        XCTAssertThrowsError(try socket.connectEx(address)) { XCTAssertEqual($0 as? SocketError, expected) }

        let datagram = try Socket(family: .unix, type: .datagram)
        defer { datagram.close() }
        XCTAssertThrowsError(try datagram.sendTo(Array("x".utf8), address)) { XCTAssertEqual($0 as? SocketError, expected) }

        XCTAssertEqual(expected.description,
                       "unix socket path is 108 bytes, longer than the kernel's limit of 107: \(path)")
    }

    func testAbstractNameMayUseAllOfSunPath() throws {
        let base = "\0sst\(getpid())"
        let fits = base + String(repeating: "a", count: 108 - base.utf8.count)
        let socket = try Socket(family: .unix, type: .datagram)
        defer { socket.close() }
        try socket.bind(.unix(path: fits))
        XCTAssertEqual(try socket.getSockName(), .unix(path: fits))
        let other = try Socket(family: .unix, type: .datagram)
        defer { other.close() }
        XCTAssertThrowsError(try other.bind(.unix(path: fits + "a"))) { error in
            guard case .pathTooLong? = error as? SocketError else { return XCTFail("\(error)") }
        }
    }

    func testUnixPathWithNULIsRefused() throws {
        let socket = try Socket(family: .unix, type: .stream)
        defer { socket.close() }
        XCTAssertThrowsError(try socket.bind(.unix(path: "/tmp/a\0b"))) { error in
            guard case .invalidAddress? = error as? SocketError else { return XCTFail("\(error)") }
        }
    }

    func testGetAddrInfo() throws {
        let numeric = try getAddrInfo(host: "127.0.0.1", port: 80, type: .stream)
        XCTAssertEqual(numeric.count, 1)
        XCTAssertEqual(numeric.first?.address, .inet(host: "127.0.0.1", port: 80))
        XCTAssertEqual(numeric.first?.family, .inet)
        XCTAssertEqual(numeric.first?.type, .stream)

        let passive = try getAddrInfo(host: nil, port: 8000, family: .inet, type: .datagram, passive: true)
        XCTAssertEqual(passive.map(\.address), [.inet(host: "0.0.0.0", port: 8000)], "passive nil host is the wildcard")
        XCTAssertEqual(passive.first?.type, .datagram)

        let active = try getAddrInfo(host: nil, port: 8000, family: .inet, type: .stream)
        XCTAssertEqual(active.map(\.address), [.inet(host: "127.0.0.1", port: 8000)], "active nil host is loopback")

        let local = try getAddrInfo(host: "localhost", port: 22, type: .stream)
        XCTAssertFalse(local.isEmpty)
        XCTAssertTrue(local.allSatisfy { [.inet(host: "127.0.0.1", port: 22), .inet6(host: "::1", port: 22)].contains($0.address) })
        XCTAssertEqual(Set(local).count, local.count, "no duplicates")

        XCTAssertThrowsError(try getAddrInfo(host: nil, port: nil)) { error in
            guard case .resolution(_, let code)? = error as? SocketError else { return XCTFail("\(error)") }
            XCTAssertEqual(code, EAI_NONAME)
            XCTAssertTrue("\(error)".hasPrefix("getaddrinfo"), "\(error)")
        }
    }

    func testCreateConnectionToHostPortAndToAddresses() throws {
        let listener = try Socket(family: .inet, type: .stream)
        defer { listener.close() }
        try listener.bind(loopback4)
        try listener.listen()
        let address = try listener.getSockName()

        let byName = try createConnection(host: "127.0.0.1", port: Int(address.port!))
        defer { byName.close() }
        XCTAssertEqual(try byName.getPeerName(), address)
        XCTAssertNil(byName.timeout)

        let directory = try TemporaryDirectory()
        let unixListener = try Socket(family: .unix, type: .stream)
        defer { unixListener.close() }
        try unixListener.bind(.unix(path: directory.file("s")))
        try unixListener.listen()
        let unixClient = try createConnection(to: .unix(path: directory.file("s")), timeout: ioTimeout)
        defer { unixClient.close() }
        XCTAssertEqual(unixClient.family, .unix)
        XCTAssertEqual(try unixClient.getPeerName(), .unix(path: directory.file("s")))
    }

    func testCreateConnectionSurfacesTheLastError() throws {
        let holder = try Socket(family: .inet, type: .stream)
        defer { holder.close() }
        try holder.bind(loopback4)
        let port = Int(try holder.getSockName().port!)
        try assertNoDescriptorLeak("by failed connections") {
            XCTAssertThrowsError(try createConnection(host: "127.0.0.1", port: port, timeout: ioTimeout)) { error in
                XCTAssertEqual((error as? SocketError)?.errno, ECONNREFUSED, "\(error)")
            }
            XCTAssertThrowsError(try createConnection(to: .inet(host: "127.0.0.1", port: port)))
        }
    }
}
