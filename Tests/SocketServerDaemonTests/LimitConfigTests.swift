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
        let bad = ["10/h", "fast", "0/s", "1000001/m", "10 / s", "/s", "5"]
        // Each service's section is 4 lines: its rate is on the 4th.
        let text = bad.enumerated().map { configService("s\($0)", listen: "tcp://127.0.0.1:\(7000 + $0)", "rate = \($1)\n") }.joined()
        assertConfigErrors(text, bad.enumerated().map {
            "main.conf:\(4 * $0 + 4): rate must be N/s or N/m with N from 1 to 1000000, got '\($1)'"
        })
    }

    func testBadCountsAndRangesAreErrorsAtTheirLine() {
        let errors = configErrors(configService("a", "max_connections = many\nper_source = -1\ndeny = 10.0.0.0/33\n"))
        XCTAssertEqual(errors.count, 3, errors.joined(separator: "\n"))
        XCTAssertTrue(errors[0].hasPrefix("main.conf:4: max_connections "), errors[0])
        XCTAssertTrue(errors[1].hasPrefix("main.conf:5: per_source "), errors[1])
        XCTAssertEqual(errors[2], "main.conf:6: deny entry '10.0.0.0/33' is not an IPv4 or IPv6 address or network (such as 10.0.0.0/8 or fd00::/8)")
    }

    func testEachListenerTakesItsLimitsOnly() {
        let tcpOnly = "tcp:// listeners (it counts each client address's connections)"
        let connections = "tcp:// and unix: listeners (datagrams are not connections)"
        let addressed = "tcp:// and udp:// listeners (unix clients have no address)"
        let text = configService("udp", listen: "udp://127.0.0.1:7000", "deny = 10.0.0.0/8\nrate = 5/s\nallow = 127.0.0.1\n"
                                 + "per_source = 2\nmax_connections = 9\n")
            + configService("unix", listen: "unix:/run/u.sock", "max_connections = 9\nper_source = 2\nrate = 5/s\ndeny = 10.0.0.1\n")
            + configService("gram", listen: "unixgram:/run/g.sock", "max_connections = 9\n")
        let expected = [(7, "per_source", tcpOnly), (8, "max_connections", connections), (13, "per_source", tcpOnly),
                        (14, "rate", addressed), (15, "deny", addressed), (19, "max_connections", connections)]
        assertConfigErrors(text, expected.map { "main.conf:\($0.0): \($0.1) applies only to \($0.2)" })
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
