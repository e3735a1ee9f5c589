// Listen addresses in the config: every malformed address and every conflict between services,
// each with its exact file:line; and the conflict rule itself against its pairwise definition.
import Foundation
import SocketServer
@testable import SocketServerDaemon
import XCTest

final class ListenConfigErrorTests: XCTestCase {
    func testBadListenAddresses() {
        let cases: [(String, String)] = [
            ("http://127.0.0.1:80", "unknown scheme 'http' (expected tcp://HOST:PORT, udp://HOST:PORT, unix:/PATH or unixgram:/PATH)"),
            ("127.0.0.1:80", "missing scheme (expected tcp://HOST:PORT, udp://HOST:PORT, unix:/PATH or unixgram:/PATH)"),
            ("", "missing scheme (expected tcp://HOST:PORT, udp://HOST:PORT, unix:/PATH or unixgram:/PATH)"),
            ("tcp://localhost:80", "host 'localhost' is not a numeric IPv4 address (host names are not resolved; write e.g. 127.0.0.1 or [::1])"),
            ("tcp://300.1.1.1:80", "host '300.1.1.1' is not a numeric IPv4 address (host names are not resolved; write e.g. 127.0.0.1 or [::1])"),
            ("tcp://:80", "missing host (use 0.0.0.0 for every IPv4 address or [::] for every address)"),
            ("tcp://127.0.0.1", "missing port (expected HOST:PORT)"),
            ("tcp://127.0.0.1:", "missing port"),
            ("tcp://127.0.0.1:http", "port 'http' is not a number"),
            ("tcp://127.0.0.1:-1", "port '-1' is not a number"),
            ("tcp://127.0.0.1:65536", "invalid address: port 65536 is out of range 0-65535"),
            ("udp://127.0.0.1:99999999999999999999999", "invalid address: port 99999999999999999999999 is out of range 0-65535"),
            ("tcp://::1:7007", "IPv6 addresses must be in brackets, e.g. tcp://[::1]:7007"),
            ("tcp://[::1:7007", "IPv6 address is missing ']'"),
            ("tcp://[::1]7007", "expected ':PORT' after ']'"),
            ("tcp://[::1]", "expected ':PORT' after ']'"),
            ("tcp://[127.0.0.1]:80", "only IPv6 addresses go in brackets, got '127.0.0.1'"),
            ("tcp://[::g]:80", "'::g' is not a numeric IPv6 address"),
            ("tcp://[fe80::1%nosuchif0]:80", "unknown network interface 'nosuchif0' in 'fe80::1%nosuchif0'"),
            ("unix:", "unix socket path is empty"),
            ("unixgram:", "unix socket path is empty"),
            ("unix:run/x.sock", "unix socket path must be absolute (start with /)"),
        ]
        for (listen, problem) in cases {
            assertConfigErrors(configService("a", listen: listen), [
                "main.conf:2: bad listen address \(ConfigText.quoted(listen)): \(problem)",
            ])
        }
        let long = "/" + String(repeating: "x", count: 108)
        assertConfigErrors(configService("a", listen: "unix:" + long), [
            "main.conf:2: bad listen address \(ConfigText.quoted("unix:" + long)): "
                + "unix socket path is 109 bytes, longer than the kernel's limit of 107: \(long)",
        ])
        let longest = "/" + String(repeating: "x", count: 106)
        XCTAssertEqual(configLoaded(configService("a", listen: "unix:" + longest))?.services.first?.listen,
                       .unix(path: longest))
    }

    func testListenConflicts() {
        // Services a, b, c, … in this order, three lines each: a's listen is line 2, b's line 5, …
        let listens = ["tcp://0.0.0.0:7000", "tcp://127.0.0.1:7000", "udp://127.0.0.1:7000", "udp://127.0.0.1:7000",
                       "tcp://[::]:7001", "tcp://127.0.0.1:7001", "unix:/run/x.sock", "unixgram:/run/x.sock",
                       "tcp://127.0.0.1:0", "tcp://127.0.0.1:0", "tcp://[::1]:7000", "tcp://127.0.0.2:7002", "tcp://127.0.0.1:7002"]
        let text = zip("abcdefghijklm", listens).map { configService(String($0), listen: $1) }.joined()
        assertConfigErrors(text, [
            "main.conf:5: listen tcp://127.0.0.1:7000 conflicts with service 'a', which listens on tcp://0.0.0.0:7000 (main.conf:2)",
            "main.conf:11: listen udp://127.0.0.1:7000 conflicts with service 'c', which listens on udp://127.0.0.1:7000 (main.conf:8)",
            "main.conf:17: listen tcp://127.0.0.1:7001 conflicts with service 'e', which listens on tcp://[::]:7001 (main.conf:14)",
            "main.conf:23: listen unixgram:/run/x.sock conflicts with service 'g', which listens on unix:/run/x.sock (main.conf:20)",
        ])
    }

    /// The linear conflict check agrees with the pairwise rule, both ways round.
    func testConflictRuleIsSymmetricAndMatchesThePairwiseDefinition() throws {
        let texts = ["tcp://0.0.0.0:80", "tcp://127.0.0.1:80", "tcp://[::]:80", "tcp://[::1]:80", "tcp://10.0.0.1:80",
                     "udp://0.0.0.0:80", "udp://[::]:80", "udp://127.0.0.1:80", "tcp://127.0.0.1:81", "tcp://127.0.0.1:0",
                     "unix:/a", "unixgram:/a", "unix:/b"]
        let addresses = try texts.map { text throws(ListenAddressParser.Failure) in try ListenAddressParser.parse(text) }
        func expected(_ a: ListenAddress, _ b: ListenAddress) -> Bool {
            switch (a, b) {
            case (.unix(let p), .unix(let q)), (.unix(let p), .unixgram(let q)),
                 (.unixgram(let p), .unix(let q)), (.unixgram(let p), .unixgram(let q)):
                return p == q
            case (.tcp(let x), .tcp(let y)), (.udp(let x), .udp(let y)):
                guard x.port != 0, x.port == y.port else { return false }
                func covers(_ w: SocketAddress, _ o: SocketAddress) -> Bool {
                    w.host == "::" || (w.host == "0.0.0.0" && o.family == .inet)
                }
                return x == y || covers(x, y) || covers(y, x)
            default: return false
            }
        }
        for a in addresses {
            for b in addresses {
                XCTAssertEqual(ListenConflicts.conflict(a, b), expected(a, b), "\(a) vs \(b)")
            }
        }
    }
}
