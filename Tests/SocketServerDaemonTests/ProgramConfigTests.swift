// `handler = program` in the config: its keys parse, and every mistake is an error at its line.
@testable import SocketServerDaemon
import SocketServerHandlers
import SocketServerTestSupport
import XCTest

final class ProgramConfigTests: XCTestCase {
    func program(_ extra: String, listen: String = "tcp://127.0.0.1:7000") -> String {
        configService("app", listen: listen, handler: "program", extra)
    }

    func testAProgramServiceLoadsOnEveryListenerKind() throws {
        for listen in ["tcp://127.0.0.1:7000", "tcp://[::1]:7000", "udp://127.0.0.1:7000", "unix:/run/a.sock", "unixgram:/run/a.sock"] {
            let config = try XCTUnwrap(configLoaded(program("command = /bin/sh -c 'exec sleep 9'\nworkers = 2\n", listen: listen),
                                                    catalog: DaemonCatalog()))
            let settings = try XCTUnwrap(config.services.first?.programSettings, listen)
            XCTAssertEqual(settings.program, "/bin/sh")
            XCTAssertEqual(settings.arguments, ["-c", "exec sleep 9"])
            XCTAssertEqual(settings.readiness, .started)
            XCTAssertEqual(settings.stopSignal, SIGTERM)
            XCTAssertEqual(settings.directory, "/")
            XCTAssertEqual(settings.startTimeout, .seconds(30))
            XCTAssertEqual(config.services.first?.workers, 2)
        }
    }

    func testEveryProgramKeyParses() throws {
        let config = try XCTUnwrap(configLoaded(program("""
            command = /bin/sh -c "echo hi"
            ready = notify
            stop_signal = SIGQUIT
            directory = /tmp
            environment = APP_ENV=production "GREETING=hello world" EMPTY=
            start_timeout = 2.5

            """), catalog: DaemonCatalog()))
        let settings = try XCTUnwrap(config.services.first?.programSettings)
        XCTAssertEqual(settings.readiness, .notify)
        XCTAssertEqual(settings.stopSignal, SIGQUIT)
        XCTAssertEqual(settings.directory, "/tmp")
        XCTAssertEqual(settings.environment, ["APP_ENV=production", "GREETING=hello world", "EMPTY="])
        XCTAssertEqual(settings.startTimeout, .milliseconds(2500))
    }

    func testKeysAboutRequestsAreErrorsAtTheirLines() {
        assertConfigErrors(program("command = /bin/true\nconcurrency = sync\nthreads = 4\ntimeout = 5\nmax_requests = 9\n"
                                   + "request_timeout = 3\nallow = 127.0.0.1\n"), [
            "main.conf:5: concurrency does not apply to handler 'program' (the program serves its clients itself)",
            "main.conf:6: threads does not apply to handler 'program' (the program serves its clients itself)",
            "main.conf:7: timeout does not apply to handler 'program' (the program serves its clients itself)",
            "main.conf:8: max_requests does not apply to handler 'program' (the program serves its clients itself)",
            "main.conf:9: request_timeout does not apply to handler 'program' (the program serves its clients itself)",
            "main.conf:10: allow does not apply to handler 'program' (the program serves its clients itself)",
        ], catalog: DaemonCatalog())
    }

    func testBadProgramValuesAreErrorsAtTheirLines() throws {
        let temp = try ConfigTempDir()
        let plain = try temp.write("plain.txt", "not a program\n")
        assertConfigErrors(program("command = relative/prog\n"),
                           ["main.conf:4: command: the program must be an absolute path, not relative/prog"], catalog: DaemonCatalog())
        assertConfigErrors(program("command = /nonexistent/prog\n"),
                           ["main.conf:4: command: /nonexistent/prog: No such file or directory"], catalog: DaemonCatalog())
        // No execute bit: not executable, even by root.
        assertConfigErrors(program("command = \(plain)\n"),
                           ["main.conf:4: command: \(plain) is not executable by this user (uid \(geteuid()))"],
                           catalog: DaemonCatalog())
        assertConfigErrors(program("command = /bin/true\nready = sometimes\n"),
                           ["main.conf:5: ready: must be started or notify, not \"sometimes\""], catalog: DaemonCatalog())
        assertConfigErrors(program("command = /bin/true\nstop_signal = STOP\n"),
                           ["main.conf:5: stop_signal: unknown signal \"STOP\" (expected TERM, INT, QUIT, HUP, USR1, USR2, WINCH, KILL)"],
                           catalog: DaemonCatalog())
        assertConfigErrors(program("command = /bin/true\nenvironment = A=1 bare \"1X=2\" LISTEN_FDS=3 'unclosed\n"),
                           ["main.conf:5: environment: unterminated quote or escape"], catalog: DaemonCatalog())
        assertConfigErrors(program("command = /bin/true\nenvironment = A=1 bare 1X=2 LISTEN_FDS=3\n"), [
            "main.conf:5: environment: \"bare\" is not NAME=VALUE",
            "main.conf:5: environment: \"1X\" is not a variable name (letters, digits and _)",
            "main.conf:5: environment: LISTEN_FDS is set by socketserverd itself",
        ], catalog: DaemonCatalog())
        assertConfigErrors(program("command = /bin/true\nstart_timeout = 0\n"),
                           ["main.conf:5: start_timeout: must be seconds above 0 and up to 86400, not \"0\""], catalog: DaemonCatalog())
        assertConfigErrors(program("command = /bin/true\ndirectory = \(plain)\n"),
                           ["main.conf:5: directory: \(plain) is not a directory"], catalog: DaemonCatalog())
        assertConfigErrors(program(""),
                           ["main.conf:1: service 'app' is missing the key 'command', which handler 'program' requires"],
                           catalog: DaemonCatalog())
    }

    /// The commented example in the shipped config, uncommented, loads (its program and
    /// directory replaced by ones that exist here).
    func testTheShippedExampleLoadsUncommented() throws {
        let shipped = try XCTUnwrap(readFile(repositoryRoot + "/etc/socketserverd/socketserverd.conf"))
        let lines = shipped.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let start = try XCTUnwrap(lines.firstIndex(of: "; [service app]"))
        let section = lines[start...].prefix { $0.hasPrefix("; ") }.map { String($0.dropFirst(2)) }
            .map { $0.hasPrefix("command = ") ? "command = /bin/sh -c true" : $0.hasPrefix("directory = ") ? "directory = /tmp" : $0 }
        XCTAssertEqual(section.count, 10, "\(section)")
        let config = try XCTUnwrap(configLoaded(section.joined(separator: "\n") + "\n", catalog: DaemonCatalog()))
        let settings = try XCTUnwrap(config.services.first?.programSettings)
        XCTAssertEqual(settings.readiness, .notify)
        XCTAssertEqual(settings.environment, ["PYTHONUNBUFFERED=1", "APP_ENV=production"])
    }
}
