// The limit keys (deny, max_connections, per_source, rate) and access_log: what they parse to,
// and every bad value or wrong listener reported at its file:line.
@testable import SocketServerDaemon
import XCTest

final class LimitConfigTests: XCTestCase {
    func testLimitsParse() throws {
        let config = try XCTUnwrap(configLoaded(configService("a", """
            deny = 10.0.0.0/8, 2001:db8::/32
            max_connections = 100
            per_source = 3
            rate = 20/s

            """) + configService("u", listen: "udp://127.0.0.1:7001", "rate = 30/m\ndeny = 192.0.2.1\n")
            + configService("x", listen: "unix:/run/x.sock", "max_connections = 5\n")))
        let tcp = config.services[0]
        XCTAssertEqual(tcp.deny.map(\.description), ["10.0.0.0/8", "2001:db8::/32"])
        XCTAssertEqual(tcp.maxConnections, 100)
        XCTAssertEqual(tcp.perSource, 3)
        XCTAssertEqual(tcp.rate, RateLimit("20/s"))
        XCTAssertEqual(tcp.rate?.interval, .milliseconds(50))
        XCTAssertEqual(config.services[1].rate?.interval, .seconds(2))
        XCTAssertEqual(config.services[2].maxConnections, 5)
    }

    func testNoLimitsByDefault() throws {
        let service = try XCTUnwrap(configLoaded(configService())?.services.first)
        XCTAssertEqual(service.deny, [])
        XCTAssertEqual(service.maxConnections, 0)
        XCTAssertEqual(service.perSource, 0)
        XCTAssertNil(service.rate)
    }

    func testBadRatesAreErrorsAtTheirLine() {
        let expected = "must be N/s or N/m with N from 1 to 1000000"
        assertConfigErrors(configService("a", "rate = 10/h\n")
            + configService("b", listen: "tcp://127.0.0.1:7001", "rate = fast\n")
            + configService("c", listen: "tcp://127.0.0.1:7002", "rate = 0/s\n")
            + configService("d", listen: "tcp://127.0.0.1:7003", "rate = 1000001/m\n")
            + configService("e", listen: "tcp://127.0.0.1:7004", "rate = 10 / s\n"), [
            "main.conf:4: rate \(expected), got '10/h'",
            "main.conf:8: rate \(expected), got 'fast'",
            "main.conf:12: rate \(expected), got '0/s'",
            "main.conf:16: rate \(expected), got '1000001/m'",
            "main.conf:20: rate \(expected), got '10 / s'",
        ])
    }

    func testBadCountsAndRangesAreErrorsAtTheirLine() {
        let errors = configErrors(configService("a", "max_connections = many\nper_source = -1\ndeny = 10.0.0.0/33\n"))
        XCTAssertEqual(errors.count, 3, errors.joined(separator: "\n"))
        XCTAssertTrue(errors[0].hasPrefix("main.conf:4: max_connections "), errors[0])
        XCTAssertTrue(errors[1].hasPrefix("main.conf:5: per_source "), errors[1])
        XCTAssertEqual(errors[2], "main.conf:6: deny entry '10.0.0.0/33' is not an IPv4 or IPv6 address or network (such as 10.0.0.0/8 or fd00::/8)")
    }

    func testEachListenerTakesItsLimitsOnly() {
        assertConfigErrors(configService("udp", listen: "udp://127.0.0.1:7000", "deny = 10.0.0.0/8\nrate = 5/s\nallow = 127.0.0.1\n"
                                         + "per_source = 2\nmax_connections = 9\n")
            + configService("unix", listen: "unix:/run/u.sock", "max_connections = 9\nper_source = 2\nrate = 5/s\ndeny = 10.0.0.1\n")
            + configService("gram", listen: "unixgram:/run/g.sock", "max_connections = 9\n"), [
            "main.conf:7: per_source applies only to tcp:// listeners (it counts each client address's connections)",
            "main.conf:8: max_connections applies only to tcp:// and unix: listeners (datagrams are not connections)",
            "main.conf:13: per_source applies only to tcp:// listeners (it counts each client address's connections)",
            "main.conf:14: rate applies only to tcp:// and udp:// listeners (unix clients have no address)",
            "main.conf:15: deny applies only to tcp:// and udp:// listeners (unix clients have no address)",
            "main.conf:19: max_connections applies only to tcp:// and unix: listeners (datagrams are not connections)",
        ])
    }

    func testAccessLogTargets() throws {
        XCTAssertEqual(try XCTUnwrap(configLoaded(configService())).accessLog, .off)
        XCTAssertEqual(try XCTUnwrap(configLoaded("[daemon]\naccess_log = stderr\n" + configService())).accessLog, .stderr)
        XCTAssertEqual(try XCTUnwrap(configLoaded("[daemon]\naccess_log = /var/log/ssd/access.log\n" + configService())).accessLog,
                       .file("/var/log/ssd/access.log"))
        assertConfigErrors("[daemon]\naccess_log = access.log\n" + configService(), [
            "main.conf:2: access_log must be off, stderr or an absolute path, got 'access.log'",
        ])
    }
}
