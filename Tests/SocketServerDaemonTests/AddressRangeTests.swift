// allow = entries: CIDR parsing and matching, IPv4, IPv6 and v4-mapped clients.
import SocketServer
import SocketServerDaemon
import XCTest

final class AddressRangeTests: XCTestCase {
    func range(_ text: String) throws -> AddressRange { try XCTUnwrap(AddressRange(text), text) }

    func testIPv4Networks() throws {
        XCTAssertTrue(try range("127.0.0.0/8").contains(.inet(host: "127.1.2.3", port: 9)))
        XCTAssertFalse(try range("127.0.0.0/8").contains(.inet(host: "128.0.0.1", port: 9)))
        XCTAssertTrue(try range("10.1.2.3").contains(.inet(host: "10.1.2.3", port: 1)))
        XCTAssertFalse(try range("10.1.2.3").contains(.inet(host: "10.1.2.4", port: 1)))
        XCTAssertTrue(try range("0.0.0.0/0").contains(.inet(host: "203.0.113.9", port: 1)))
        XCTAssertTrue(try range("192.168.1.0/23").contains(.inet(host: "192.168.0.77", port: 1)))
    }

    func testIPv6AndMappedClients() throws {
        XCTAssertTrue(try range("::1").contains(.inet6(host: "::1", port: 1)))
        XCTAssertFalse(try range("::1").contains(.inet(host: "127.0.0.1", port: 1)))
        XCTAssertTrue(try range("2001:db8::/32").contains(.inet6(host: "2001:db8:ffff::1", port: 1)))
        XCTAssertFalse(try range("2001:db8::/32").contains(.inet6(host: "2001:db9::1", port: 1)))
        // A dual-stack listener reports IPv4 clients as ::ffff:a.b.c.d; IPv4 ranges match them.
        XCTAssertTrue(try range("127.0.0.0/8").contains(.inet6(host: "::ffff:127.0.0.1", port: 1)))
        XCTAssertFalse(try range("127.0.0.0/8").contains(.inet6(host: "::ffff:10.0.0.1", port: 1)))
        XCTAssertFalse(try range("127.0.0.0/8").contains(.unix(path: "/tmp/x")))
    }

    func testBadEntries() {
        for text in ["", "1.2.3", "1.2.3.4/33", "::1/129", "1.2.3.4/-1", "host.example", "1.2.3.4/8/8", "::ffff:1.2.3.4/x"] {
            XCTAssertNil(AddressRange(text), text)
        }
    }
}
