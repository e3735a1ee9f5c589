// Robustness: no byte sequence may crash the loader; it returns a config or errors.
import Foundation
@testable import SocketServerDaemon
import SocketServerTestSupport
import XCTest

final class ConfigFuzzTests: XCTestCase {
    static let tokens: [String] = [
        "[daemon]", "[service x]", "[service y]", "[service]", "[", "]", "[service x", "=", " = ", "\n", "\r\n",
        ";", "#", " ;c", " #c", "\t", " ", ",", "include = ", "include = *.conf", "include = missing.conf",
        "include = sub/*", "listen = ", "tcp://", "udp://", "unix:", "unixgram:", "[::1]", "[::]", "0.0.0.0",
        "127.0.0.1", ":7007", ":0", ":65536", "::", "%lo", "/run/x.sock", "handler = ", "echo", "upload",
        "beacon", "broken", "daytime", "workers = ", "threads = ", "max_requests = ", "timeout = ",
        "graceful_timeout = ", "log_level = ", "debug", "concurrency = ", "fork", "sync", "threads",
        "allow = ", "10.0.0.0/8", "::1/128", "/33", "socket_mode = ", "0660", "directory = ", "/srv",
        "max_size = ", "user = ", "group = ", "root", "pid_file = ", "plugin_dir = ", "0", "1", "1024",
        "99999999999999999999", "-1", "2.5", ".", "é", "\u{0}", "\u{1b}", "\u{feff}", "𝄞",
    ]

    static let interestingBytes: [UInt8] = Array("[]=;#\n\r\t :/.,%@0123456789abcdeflnprstuwx".utf8)
        + [0x00, 0x7f, 0x80, 0xbf, 0xc0, 0xc3, 0xe2, 0xef, 0xf0, 0xff]

    static func randomBytes(_ rng: inout SeededRandom) -> [UInt8] {
        let count = Int.random(in: 0...600, using: &rng)
        return (0..<count).map { _ in
            Bool.random(using: &rng) ? interestingBytes.randomElement(using: &rng)! : UInt8.random(in: 0...255, using: &rng)
        }
    }

    static func tokenSoup(_ rng: inout SeededRandom) -> [UInt8] {
        let count = Int.random(in: 0...120, using: &rng)
        return Array((0..<count).map { _ in tokens.randomElement(using: &rng)! }.joined().utf8)
    }

    static func mutated(_ base: [UInt8], _ rng: inout SeededRandom) -> [UInt8] {
        var bytes = base
        for _ in 0..<Int.random(in: 1...12, using: &rng) {
            let position = bytes.isEmpty ? 0 : Int.random(in: 0..<bytes.count, using: &rng)
            switch Int.random(in: 0...5, using: &rng) {
            case 0 where !bytes.isEmpty:
                bytes[position] = UInt8.random(in: 0...255, using: &rng)
            case 1 where !bytes.isEmpty:
                let end = min(bytes.count, position + Int.random(in: 1...40, using: &rng))
                bytes.removeSubrange(position..<end)
            case 2:
                bytes.insert(contentsOf: Array(tokens.randomElement(using: &rng)!.utf8), at: position)
            case 3 where !bytes.isEmpty:
                let end = min(bytes.count, position + Int.random(in: 1...200, using: &rng))
                bytes.insert(contentsOf: Array(bytes[position..<end]), at: Int.random(in: 0...bytes.count, using: &rng))
            case 4:
                bytes.insert(interestingBytes.randomElement(using: &rng)!, at: position)
            default:
                bytes.insert(contentsOf: randomBytes(&rng).prefix(16), at: position)
            }
        }
        return bytes
    }

    /// Runs one input; fails the test (never crashes) if the outcome is malformed.
    func check(_ bytes: [UInt8], file: String, catalog: any HandlerCatalog, index: Int) {
        do {
            let config = try ConfigLoader.parse(bytes: bytes, file: file, catalog: catalog, cpuCount: 2)
            XCTAssertEqual(Set(config.services.map(\.name)).count, config.services.count, "input \(index)")
            for service in config.services {
                XCTAssertTrue((1...1024).contains(service.workers), "input \(index)")
                XCTAssertTrue((1...4096).contains(service.threads), "input \(index)")
            }
        } catch {
            XCTAssertFalse(error.errors.isEmpty, "input \(index)")
            for item in error.errors {
                XCTAssertFalse(item.message.isEmpty, "input \(index)")
                if let location = item.location { XCTAssertGreaterThan(location.line, 0, "input \(index)") }
            }
        }
    }

    func testTwoThousandRandomAndMutatedInputs() throws {
        let dir = try ConfigTempDir()
        _ = try dir.makeDirectory("sub")
        try dir.write("sub/part.conf", "[service p]\nlisten = tcp://127.0.0.1:7100\nhandler = echo\n")
        let file = dir.path + "/fuzz.conf"
        var rng = SeededRandom(seed: 0x5EED_C0F1_6000)
        let example = Array(ConfigExampleTests.example.utf8)
        let catalogs: [any HandlerCatalog] = [ConfigTestCatalog(), DaemonCatalog()]
        for index in 0..<2000 {
            let input: [UInt8]
            switch index % 4 {
            case 0: input = Self.randomBytes(&rng)
            case 1: input = Self.tokenSoup(&rng)
            case 2: input = Self.mutated(example, &rng)
            default: input = Self.mutated(Self.tokenSoup(&rng), &rng)
            }
            check(input, file: file, catalog: catalogs[index % 2], index: index)
        }
    }

    /// Inputs that once looked risky, kept as regressions.
    func testHandPickedNastyInputs() throws {
        let cases: [[UInt8]] = [
            [], [0x0a], [0x5b], [0x5d], [0x3d], Array("[ ]".utf8), Array("[service ]".utf8),
            Array("[ service x ]\nlisten=tcp://[::1]:1\nhandler=echo".utf8), [0xef, 0xbb, 0xbf],
            Array("\u{feff}[daemon]\nlog_level = debug\n".utf8), Array("[daemon]\r".utf8), [0xff, 0x0a, 0x00],
            Array("listen = tcp://[".utf8), Array("[service x]\nlisten = tcp://[]:1\n".utf8),
            Array("[service x]\nlisten = tcp://[%]:1\nhandler = echo\n".utf8),
            Array("[service x]\nlisten = tcp://[::1%]:1\nhandler = echo\n".utf8),
            Array("[service x]\nlisten = tcp://[::1%0]:1\nhandler = echo\n".utf8),
            Array("[service x]\nlisten = tcp://]:[\nhandler = echo\n".utf8),
            Array("[service x]\nlisten = unix:@abstract\nallow = /\n".utf8),
            Array("[service x]\nallow = ,,,\n".utf8), Array("[service x]\ntimeout = .\n".utf8),
            Array("[service x]\ntimeout = 99999999999999999999.5\n".utf8),
            Array("[service x]\ntimeout = 9223372036854775807.999999999999\n".utf8),
            Array("[daemon]\ngraceful_timeout = 0.0000000001\n".utf8),
            Array("[service x]\nsocket_mode = 77777777777777777777\n".utf8),
            Array("[service é́́]\nlisten = tcp://127.0.0.1:1\nhandler = echo\n".utf8),
            Array("[service x]\nlisten = tcp://127.0.0.1:1\nhandler = echo\n[service x]\n".utf8),
            Array("include = /dev/zero\ninclude = /dev/null\ninclude = /proc/self/fd/0\n".utf8),
            Array(("[" + String(repeating: "s", count: 70000) + "]").utf8),
            Array(("[" + String(repeating: "s", count: 60000) + "]\n" + String(repeating: "k", count: 60000) + "=1").utf8),
        ]
        let dir = try ConfigTempDir()
        for (index, bytes) in cases.enumerated() {
            check(bytes, file: dir.path + "/nasty.conf", catalog: ConfigTestCatalog(), index: index)
        }
        let bom = try XCTUnwrap(configLoaded("\u{feff}[daemon]\nlog_level = debug\n" + configService()))
        XCTAssertEqual(bom.logLevel, .debug)
    }
}
