// Every error the loader reports, each with its exact file:line.
import Foundation
import SocketServer
@testable import SocketServerDaemon
import XCTest

final class ConfigErrorTests: XCTestCase {
    func testUnreadableFiles() throws {
        let dir = try ConfigTempDir()
        let missing = dir.path + "/missing.conf"
        XCTAssertThrowsError(try ConfigLoader.load(path: missing, catalog: ConfigTestCatalog(), cpuCount: 1)) { error in
            let errors = (error as? ConfigErrors)?.errors
            XCTAssertEqual(errors, [ConfigError("cannot read \(missing): No such file or directory", at: nil)])
        }
        let directory = try dir.makeDirectory("conf")
        XCTAssertThrowsError(try ConfigLoader.load(path: directory, catalog: ConfigTestCatalog(), cpuCount: 1)) { error in
            XCTAssertEqual("\(error)", "cannot read \(directory): it is a directory")
        }
        XCTAssertThrowsError(try ConfigLoader.load(path: "/dev/null", catalog: ConfigTestCatalog(), cpuCount: 1)) { error in
            XCTAssertEqual("\(error)", "cannot read /dev/null: not a regular file")
        }
    }

    func testSyntaxErrors() {
        assertConfigErrors("""
            [service a
            just words
            = value
            [daemon]
            two words = 1
            []
            [x]y]
            """, [
            "main.conf:1: syntax error: section header '[service a' is missing ']'",
            "main.conf:2: syntax error: expected 'key = value', a [section] header or a comment, got 'just words'",
            "main.conf:3: syntax error: missing key before '='",
            "main.conf:5: syntax error: key 'two words' contains whitespace",
            "main.conf:6: syntax error: empty section header '[]'",
            "main.conf:7: syntax error: bad section header '[x]y]'",
        ])
    }

    func testKeyOutsideAnySection() {
        assertConfigErrors("workers = 2\n", [
            "main.conf:1: key 'workers' is outside any section (put it under [daemon], [service NAME] or [plugin NAME])",
        ])
    }

    func testUnknownSectionKindAndItsKeysAreSkipped() {
        assertConfigErrors("[servce echo]\nlisten = nonsense\n[global]\nfoo = 1\n", [
            "main.conf:1: unknown section kind 'servce' (did you mean 'service'?); expected [daemon], [service NAME] or [plugin NAME]",
            "main.conf:3: unknown section kind 'global'; expected [daemon], [service NAME] or [plugin NAME]",
        ])
    }

    func testServiceWithoutNameAndDaemonWithName() {
        assertConfigErrors("[service]\nlisten = x\n[daemon main]\nlog_level = info\n", [
            "main.conf:1: [service] needs a name: [service NAME]",
            "main.conf:3: [daemon] takes no name, got 'main'",
        ])
    }

    func testDuplicateServiceName() {
        assertConfigErrors(configService("echo") + "\n" + configService("echo", listen: "tcp://127.0.0.1:7001"), [
            "main.conf:5: duplicate service 'echo' (first defined at main.conf:1)",
        ])
    }

    func testDuplicateKeys() {
        assertConfigErrors(configService("a", "workers = 2\nworkers = 3\n") + "[daemon]\nlog_level = info\n[daemon]\nlog_level = debug\n", [
            "main.conf:5: duplicate key 'workers' (first set at main.conf:4)",
            "main.conf:9: duplicate key 'log_level' (first set at main.conf:7)",
        ])
    }

    func testUnknownKeysWithSuggestions() {
        assertConfigErrors("""
            [daemon]
            log_levle = info
            pidfile = /run/x.pid
            frobnicate = yes
            [service a]
            listen = tcp://127.0.0.1:7000
            handler = echo
            wokers = 2
            Workers = 2
            directory = /srv
            [service b]
            listen = tcp://127.0.0.1:7001
            handler = upload
            directory = /srv
            max_sise = 10
            colour = blue
            """, [
            "main.conf:2: unknown key 'log_levle' (did you mean 'log_level'?)",
            "main.conf:3: unknown key 'pidfile' (did you mean 'pid_file'?)",
            "main.conf:4: unknown key 'frobnicate'",
            "main.conf:8: unknown key 'wokers' (did you mean 'workers'?)",
            "main.conf:9: unknown key 'Workers' (did you mean 'workers'?)",
            "main.conf:10: unknown key 'directory' (handler 'echo' takes no extra keys)",
            "main.conf:15: unknown key 'max_sise' (did you mean 'max_size'?)",
            "main.conf:16: unknown key 'colour' (handler 'upload' accepts: directory, max_size)",
        ])
    }

    func testMissingRequiredKeysAreReportedAtTheSection() {
        assertConfigErrors("[daemon]\n\n[service a]\nworkers = 2\n[service b]\nhandler = echo\n[service c]\nlisten = tcp://127.0.0.1:1\n", [
            "main.conf:3: service 'a' is missing the required key 'listen'",
            "main.conf:3: service 'a' is missing the required key 'handler'",
            "main.conf:5: service 'b' is missing the required key 'listen'",
            "main.conf:7: service 'c' is missing the required key 'handler'",
        ])
    }

    func testBadNumbers() {
        let text = """
            [daemon]
            graceful_timeout = 1.5.2
            [service a]
            listen = tcp://127.0.0.1:7000
            handler = echo
            workers = 0
            threads = 4097
            max_requests = -1
            timeout = soon
            [service b]
            listen = tcp://127.0.0.1:7001
            handler = upload
            directory = /srv/uploads
            max_size = 0
            workers = 1025
            threads = 0
            timeout = -5
            [service c]
            listen = tcp://127.0.0.1:7002
            handler = echo
            workers = two
            timeout = 1.
            max_requests = 99999999999999999999
            """
        assertConfigErrors(text, [
            "main.conf:2: graceful_timeout must be a number of seconds from 0 to 31536000 (a year), such as 30 or 2.5, got '1.5.2'",
            "main.conf:6: workers must be an integer from 1 to 1024, got '0'",
            "main.conf:7: threads must be an integer from 1 to 4096, got '4097'",
            "main.conf:8: max_requests must be an integer from 0 to 1000000000, got '-1'",
            "main.conf:9: timeout must be a number of seconds from 0 to 31536000 (a year), such as 30 or 2.5, got 'soon'",
            "main.conf:14: max_size: must be a positive integer (bytes), not \"0\"",
            "main.conf:15: workers must be an integer from 1 to 1024, got '1025'",
            "main.conf:16: threads must be an integer from 1 to 4096, got '0'",
            "main.conf:17: timeout must be a number of seconds from 0 to 31536000 (a year), such as 30 or 2.5, got '-5'",
            "main.conf:21: workers must be an integer from 1 to 1024, got 'two'",
            "main.conf:22: timeout must be a number of seconds from 0 to 31536000 (a year), such as 30 or 2.5, got '1.'",
            "main.conf:23: max_requests must be an integer from 0 to 1000000000, got '99999999999999999999'",
        ])
    }

    /// Values that parse but would overflow later (a deadline in milliseconds, max_requests plus
    /// jitter) are refused here, not by a trapping worker.
    func testNumbersTooLargeToUseAreRefused() {
        assertConfigErrors("[daemon]\ngraceful_timeout = 31536001\n"
            + configService("a", "timeout = 10000000000000000\nrequest_timeout = 31536000.5\nmax_requests = 9223372036854775807\n"), [
            "main.conf:2: graceful_timeout must be a number of seconds from 0 to 31536000 (a year), such as 30 or 2.5, got '31536001'",
            "main.conf:6: timeout must be a number of seconds from 0 to 31536000 (a year), such as 30 or 2.5, got '10000000000000000'",
            "main.conf:8: max_requests must be an integer from 0 to 1000000000, got '9223372036854775807'",
        ])
    }

    func testUnknownLogLevelAndConcurrency() {
        assertConfigErrors("[daemon]\nlog_level = verbose\n" + configService("a", "concurrency = thread\n")
            + configService("b", listen: "tcp://127.0.0.1:7001", "concurrency = processes\n"), [
            "main.conf:2: unknown log_level 'verbose' (expected debug, info, warning or error)",
            "main.conf:6: unknown concurrency 'thread' (expected sync, threads, fork or events) (did you mean 'threads'?)",
            "main.conf:10: unknown concurrency 'processes' (expected sync, threads, fork or events)",
        ])
    }

    func testEventsNeedAnEventDrivenHandlerAndAStreamListener() {
        assertConfigErrors(configService("a", handler: "upload", "concurrency = events\ndirectory = /tmp\n")
            + configService("b", listen: "udp://127.0.0.1:7001", "concurrency = events\n")
            + configService("c", listen: "tcp://127.0.0.1:7002", handler: "daytime", "concurrency = events\n"), [
            "main.conf:4: handler 'upload' does not support concurrency 'events' (it supports sync, threads and fork); "
                + "handlers that do: echo, discard, daytime, upper",
            "main.conf:9: concurrency 'events' serves stream listeners only (tcp://, unix:), not udp://127.0.0.1:7001; "
                + "use sync, threads or fork",
        ], catalog: DaemonCatalog())
    }

    func testBadAllowEntriesAreEachReported() {
        assertConfigErrors(configService("a", "allow = 10.0.0.0/33, ,example.com, ::1/129, 10.1.2.3\n")
            + configService("u", listen: "unix:/run/u.sock", "allow = 127.0.0.1\n"), [
            "main.conf:4: allow entry '10.0.0.0/33' is not an IPv4 or IPv6 address or network (such as 10.0.0.0/8 or fd00::/8)",
            "main.conf:4: allow has an empty entry (entries are separated by commas)",
            "main.conf:4: allow entry 'example.com' is not an IPv4 or IPv6 address or network (such as 10.0.0.0/8 or fd00::/8)",
            "main.conf:4: allow entry '::1/129' is not an IPv4 or IPv6 address or network (such as 10.0.0.0/8 or fd00::/8)",
            "main.conf:8: allow applies only to tcp:// and udp:// listeners (unix clients have no address)",
        ])
    }

    func testUnknownHandlerListsKnownOnes() {
        assertConfigErrors(configService("a", handler: "ecoh") + configService("b", listen: "tcp://127.0.0.1:7001", handler: "http"), [
            "main.conf:3: unknown handler 'ecoh' (did you mean 'echo'?) (known handlers: beacon, broken, daytime, discard, echo, upload, upper)",
            "main.conf:6: unknown handler 'http' (known handlers: beacon, broken, daytime, discard, echo, upload, upper)",
        ])
        assertConfigErrors(configService("a", handler: "nope"), [
            "main.conf:3: unknown handler 'nope' (known handlers: daytime, discard, echo, exec, program, upload, upper)",
        ], catalog: DaemonCatalog())
    }

    func testHandlerThatCannotServeTheListenerKind() {
        assertConfigErrors(configService("a", listen: "udp://127.0.0.1:7000", handler: "upload", "directory = /srv\n")
            + configService("b", listen: "unix:/run/b.sock", handler: "beacon")
            + configService("c", listen: "unixgram:/run/c.sock", handler: "broken"), [
            "main.conf:3: handler 'upload' cannot serve datagram listeners like udp://127.0.0.1:7000; it serves stream listeners only",
            "main.conf:7: handler 'beacon' cannot serve stream listeners like unix:/run/b.sock; it serves datagram listeners only",
            "main.conf:10: handler 'broken' cannot serve datagram listeners like unixgram:/run/c.sock",
        ])
    }

    func testHandlerSpecificKeys() {
        assertConfigErrors(configService("a", handler: "upload", "max_size = 10\n")
            + configService("b", listen: "tcp://127.0.0.1:7001", handler: "upload", "directory = srv\nmax_size = lots\n")
            + configService("c", listen: "tcp://127.0.0.1:7002", handler: "echo", "directory = /srv\n"), [
            "main.conf:1: service 'a' is missing the key 'directory', which handler 'upload' requires",
            "main.conf:8: directory: must be an absolute path",
            "main.conf:9: max_size: must be a positive integer (bytes), not \"lots\"",
            "main.conf:13: unknown key 'directory' (handler 'echo' takes no extra keys)",
        ])
    }

    func testBuiltinUploadValidation() throws {
        let dir = try ConfigTempDir()
        let file = try dir.write("plain", "x")
        assertConfigErrors(configService("a", handler: "upload", "directory = \(dir.path)/nope\nmax_size = -3\n")
            + configService("b", listen: "tcp://127.0.0.1:7001", handler: "upload", "directory = \(file)\n"), [
            "main.conf:4: directory: \(dir.path)/nope: No such file or directory",
            "main.conf:5: max_size: must be a positive integer (bytes), not \"-3\"",
            "main.conf:9: directory: \(file) is not a directory",
        ], catalog: DaemonCatalog())
    }

    func testSocketModeErrors() {
        assertConfigErrors(configService("a", "socket_mode = 0660\n")
            + configService("b", listen: "unix:/run/b.sock", "socket_mode = 0999\n")
            + configService("c", listen: "unix:/run/c.sock", "socket_mode = rw-rw----\n")
            + configService("d", listen: "unix:/run/d.sock", "socket_mode = 17777\n"), [
            "main.conf:4: socket_mode applies only to unix: and unixgram: listeners",
            "main.conf:8: socket_mode must be an octal file mode such as 0660, got '0999'",
            "main.conf:12: socket_mode must be an octal file mode such as 0660, got 'rw-rw----'",
            "main.conf:16: socket_mode must be an octal file mode such as 0660, got '17777'",
        ])
    }

    func testDaemonPathsMustBeAbsolute() {
        assertConfigErrors("[daemon]\npid_file = run/x.pid\nplugin_dir = plugins\nuser =\n", [
            "main.conf:2: pid_file must be an absolute path, got 'run/x.pid'",
            "main.conf:3: plugin_dir must be an absolute path, got 'plugins'",
            "main.conf:4: user is empty",
        ])
    }

    func testOversizedLineAndFile() throws {
        let long = "; " + String(repeating: "x", count: 64 * 1024)
        assertConfigErrors("[daemon]\n\(long)\nlog_level = loud\n", [
            "main.conf:2: line is 65538 bytes long, longer than the limit of 65536",
            "main.conf:3: unknown log_level 'loud' (expected debug, info, warning or error)",
        ])
        XCTAssertEqual(configErrors("; " + String(repeating: "x", count: 64 * 1024 - 2) + "\n" + configService()), [])

        let dir = try ConfigTempDir()
        let big = try dir.write("big.conf", String(repeating: ";\n", count: 2 * 1024 * 1024 + 1))
        XCTAssertThrowsError(try ConfigLoader.load(path: big, catalog: ConfigTestCatalog(), cpuCount: 1)) { error in
            XCTAssertEqual("\(error)", "\(big) is larger than the limit of 4194304 bytes (4 MiB)")
        }
        let main = try dir.write("main.conf", "include = big.conf\n")
        XCTAssertThrowsError(try ConfigLoader.load(path: main, catalog: ConfigTestCatalog(), cpuCount: 1)) { error in
            XCTAssertEqual("\(error)", "\(main):1: \(big) is larger than the limit of 4194304 bytes (4 MiB)")
        }
    }

    func testBinaryGarbageLines() throws {
        var bytes = Array("[daemon]\nlog_level = info\n".utf8)
        bytes += [0xff, 0xfe, 0x3d, 0x0a]  // invalid UTF-8
        bytes += Array("user = a".utf8) + [0x00] + Array("b\n".utf8)
        bytes += Array("group = \u{1b}[31mred\n".utf8)
        do {
            _ = try ConfigLoader.parse(bytes: bytes, file: "bin.conf", catalog: ConfigTestCatalog(), cpuCount: 1,
                                       forRoot: true)
            XCTFail("expected errors")
        } catch {
            XCTAssertEqual(error.errors.map(\.description), [
                "bin.conf:3: line is not valid UTF-8",
                "bin.conf:4: line contains a NUL byte",
                "bin.conf:5: line contains the control character U+001B",
            ])
        }
    }

    func testControlCharacters() {
        assertConfigErrors("[daemon]\nuser = a\u{7}b\ngroup = x\u{85}y\n\tlog_level\t=\u{0B}debug\u{0C} \r\n", [
            "main.conf:2: line contains the control character U+0007",
            "main.conf:3: line contains the control character U+0085",
        ])
    }

    func testIncludeOnlyInDaemonOrTopLevel() {
        assertConfigErrors(configService("a", "include = other.conf\n") + "[daemon]\ninclude =\n", [
            "main.conf:4: include is only allowed in [daemon] or at top level",
            "main.conf:6: include needs a path or a glob pattern",
        ])
    }

    /// nginx -t style: one pass reports every problem, in file and line order.
    func testAllErrorsAreCollectedInOrder() {
        let text = """
            [daemon]
            log_level = chatty
            graceful_timeout = forever
            [service a]
            listen = tcp://127.0.0.1:99999
            handler = echo
            workers = 0
            bogus = 1
            [service a]
            listen = tcp://127.0.0.1:7000
            handler = nope
            garbage line
            [service c]
            listen = tcp://127.0.0.1:7000
            handler = echo
            allow = nowhere
            """
        let errors = configErrors(text)
        XCTAssertEqual(errors, [
            "main.conf:2: unknown log_level 'chatty' (expected debug, info, warning or error)",
            "main.conf:3: graceful_timeout must be a number of seconds from 0 to 31536000 (a year), such as 30 or 2.5, got 'forever'",
            "main.conf:5: bad listen address 'tcp://127.0.0.1:99999': invalid address: port 99999 is out of range 0-65535",
            "main.conf:7: workers must be an integer from 1 to 1024, got '0'",
            "main.conf:8: unknown key 'bogus' (handler 'echo' takes no extra keys)",
            "main.conf:9: duplicate service 'a' (first defined at main.conf:4)",
            "main.conf:11: unknown handler 'nope' (known handlers: beacon, broken, daytime, discard, echo, upload, upper)",
            "main.conf:12: syntax error: expected 'key = value', a [section] header or a comment, got 'garbage line'",
            "main.conf:16: allow entry 'nowhere' is not an IPv4 or IPv6 address or network (such as 10.0.0.0/8 or fd00::/8)",
        ])
    }

    func testQuotedValuesAreEscapedAndShortened() {
        XCTAssertEqual(ConfigText.quoted("a\tb'c\\\u{7}"), "'a\\tb\\'c\\\\\\u{7}'")
        XCTAssertEqual(ConfigText.quoted(String(repeating: "y", count: 100)), "'" + String(repeating: "y", count: 60) + "…'")
    }

    func testSuggestions() {
        XCTAssertEqual(ConfigText.suggestion(for: "wrkers", among: ServiceKeys.names), "workers")
        XCTAssertEqual(ConfigText.suggestion(for: "lisetn", among: ServiceKeys.names), "listen")
        XCTAssertNil(ConfigText.suggestion(for: "xyz", among: ServiceKeys.names))
        XCTAssertNil(ConfigText.suggestion(for: String(repeating: "w", count: 70000), among: ["workers"]))
        XCTAssertEqual(ConfigText.editDistance(Array("kitten".unicodeScalars), Array("sitting".unicodeScalars)), 3)
    }
}
