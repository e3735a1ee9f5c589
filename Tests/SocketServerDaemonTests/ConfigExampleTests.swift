// The documented example config, and the defaults the loader fills in.
import Foundation
import SocketServer
@testable import SocketServerDaemon
import SocketServerHandlers
import XCTest

final class ConfigExampleTests: XCTestCase {
    /// The example from the docs, verbatim (its `socket_mode` sits on a tcp:// service: line 18).
    static let example = """
        [daemon]
        user = socketserverd           ; used only when started as root (also: group)
        pid_file = /run/socketserverd/socketserverd.pid   ; optional
        graceful_timeout = 30          ; seconds an old worker may take to finish on reload/stop
        log_level = info
        include = conf.d/*.conf        ; relative paths are relative to the including file
        plugin_dir = /usr/lib/socketserverd/plugins  ; (store it; plugins come later)

        [service echo]                 ; one section per service; NAME is free
        listen = tcp://127.0.0.1:7007  ; also tcp://[::1]:7007, udp://0.0.0.0:7007, unix:/path, unixgram:/path
        handler = echo                 ; echo | discard | daytime | upper | upload
        workers = 2                    ; default: the number of CPUs
        concurrency = threads          ; sync | threads | fork
        threads = 32
        max_requests = 0               ; 0 = never recycle
        timeout = 30                   ; idle seconds before a silent client is closed (0 = never)
        allow = 127.0.0.0/8, ::1       ; applied through verifyRequest, TCP and UDP alike
        socket_mode = 0660             ; unix listeners only: file mode (octal)

        [service upload]
        listen = tcp://127.0.0.1:7009
        handler = upload
        directory = /var/lib/socketserverd/uploads
        max_size = 104857600           ; bytes

        """

    func expectedEcho(file: String) -> ServiceConfig {
        var echo = ServiceConfig(name: "echo", listen: .tcp(.inet(host: "127.0.0.1", port: 7007)), handler: "echo",
                                 workers: 2, location: SourceLocation(file: file, line: 9))
        echo.concurrency = .threads
        echo.threads = 32
        echo.maxRequests = 0
        echo.idleTimeout = .seconds(30)
        echo.allow = [AddressRange("127.0.0.0/8")!, AddressRange("::1")!]
        return echo
    }

    func expectedConfig(file: String, uploads: String) -> DaemonConfig {
        var config = DaemonConfig()
        config.user = "socketserverd"
        config.pidFile = "/run/socketserverd/socketserverd.pid"
        config.gracefulTimeout = .seconds(30)
        config.logLevel = .info
        config.pluginDirectory = "/usr/lib/socketserverd/plugins"
        config.files = [file]
        var upload = ServiceConfig(name: "upload", listen: .tcp(.inet(host: "127.0.0.1", port: 7009)),
                                   handler: "upload", workers: 4, location: SourceLocation(file: file, line: 20))
        upload.options = ["directory": uploads, "max_size": "104857600"]
        config.services = [expectedEcho(file: file), upload]
        return config
    }

    /// Verbatim, the only problem is the socket_mode on a tcp:// listener.
    func testVerbatimExampleReportsOnlySocketModeOnTCP() throws {
        let dir = try ConfigTempDir()
        _ = try dir.makeDirectory("conf.d")
        let file = try dir.write("socketserverd.conf", Self.example)
        do {
            let config = try ConfigLoader.load(path: file, catalog: ConfigTestCatalog(), cpuCount: 4)
            XCTFail("expected an error, got \(config)")
        } catch {
            XCTAssertEqual(error.errors.map(\.description),
                           ["\(file):18: socket_mode applies only to unix: and unixgram: listeners"])
            XCTAssertEqual(error.errors.first?.location, SourceLocation(file: file, line: 18))
        }
    }

    /// Without that line (and with an upload directory that exists), the example loads with the
    /// real built-in handlers into exactly the expected model.
    func testExampleLoadsWithDaemonCatalog() throws {
        let dir = try ConfigTempDir()
        _ = try dir.makeDirectory("conf.d")
        let uploads = try dir.makeDirectory("uploads")
        let text = Self.example
            .replacingOccurrences(of: "socket_mode = 0660             ; unix listeners only: file mode (octal)\n", with: "\n")
            .replacingOccurrences(of: "/var/lib/socketserverd/uploads", with: uploads)
        let file = try dir.write("socketserverd.conf", text)
        let config = try ConfigLoader.load(path: file, catalog: DaemonCatalog(), cpuCount: 4)
        XCTAssertEqual(config, expectedConfig(file: file, uploads: uploads))
    }

    func testSocketModeOnUnixListener() throws {
        let text = configService("sock", listen: "unix:/run/socketserverd/echo.sock", "socket_mode = 0660\n")
            + configService("gram", listen: "unixgram:/run/socketserverd/echo.dgram", "socket_mode = 600\n")
        let config = try XCTUnwrap(configLoaded(text))
        XCTAssertEqual(config.services.map(\.socketMode), [0o660, 0o600])
        XCTAssertEqual(config.services.map(\.listen), [.unix(path: "/run/socketserverd/echo.sock"),
                                                       .unixgram(path: "/run/socketserverd/echo.dgram")])
    }

    func testDefaults() throws {
        let config = try XCTUnwrap(configLoaded(configService("e"), cpuCount: 3))
        XCTAssertEqual(config.user, nil)
        XCTAssertEqual(config.group, nil)
        XCTAssertEqual(config.pidFile, nil)
        XCTAssertEqual(config.gracefulTimeout, .seconds(30))
        XCTAssertEqual(config.logLevel, .info)
        XCTAssertEqual(config.pluginDirectory, nil)
        let service = try XCTUnwrap(config.services.first)
        XCTAssertEqual(service.workers, 3)
        XCTAssertEqual(service.concurrency, .threads)
        XCTAssertEqual(service.threads, 32)
        XCTAssertEqual(service.maxRequests, 0)
        XCTAssertEqual(service.idleTimeout, .seconds(30))
        XCTAssertEqual(service.allow, [])
        XCTAssertEqual(service.options, [:])
        XCTAssertEqual(service.socketMode, nil)
        XCTAssertEqual(service.location, SourceLocation(file: "main.conf", line: 1))
    }

    func testWorkersDefaultIsClampedToTheAllowedRange() throws {
        XCTAssertEqual(configLoaded(configService(), cpuCount: 0)?.services.first?.workers, 1)
        XCTAssertEqual(configLoaded(configService(), cpuCount: 5000)?.services.first?.workers, 1024)
    }

    func testHandlerDefaultsFillOptions() throws {
        let text = configService("up", handler: "upload", "directory = /srv/up\n")
            + configService("b", listen: "udp://127.0.0.1:7001", handler: "beacon")
        let config = try XCTUnwrap(configLoaded(text))
        XCTAssertEqual(config.services[0].options, ["directory": "/srv/up", "max_size": "104857600"])
        XCTAssertEqual(config.services[1].options, ["interval": "5"])
    }

    func testValuesAndEdges() throws {
        let text = """
            [daemon]
            group = nogroup
            graceful_timeout = 2.5
            log_level = debug
            [service a]
            listen = udp://[::1]:53
            handler = daytime
            workers = 1024
            concurrency = fork
            threads = 4096
            max_requests = 1000000
            timeout = 0
            allow = 10.0.0.0/8,fd00::/8 , 192.168.1.7
            [service b]
            listen=tcp://0.0.0.0:8080
            handler=upper
            concurrency=sync
            timeout=0.25
            [service c]
            listen = tcp://[fe80::1%1]:0
            handler = echo
            """
        let config = try XCTUnwrap(configLoaded(text))
        XCTAssertEqual(config.group, "nogroup")
        XCTAssertEqual(config.gracefulTimeout, .milliseconds(2500))
        XCTAssertEqual(config.logLevel, .debug)
        let a = config.services[0]
        XCTAssertEqual(a.listen, .udp(.inet6(host: "::1", port: 53)))
        XCTAssertEqual(a.workers, 1024)
        XCTAssertEqual(a.concurrency, .fork)
        XCTAssertEqual(a.threads, 4096)
        XCTAssertEqual(a.maxRequests, 1_000_000)
        XCTAssertNil(a.idleTimeout)
        XCTAssertEqual(a.allow.map(\.description), ["10.0.0.0/8", "fd00::/8", "192.168.1.7/32"])
        let b = config.services[1]
        XCTAssertEqual(b.listen, .tcp(.inet(host: "0.0.0.0", port: 8080)))
        XCTAssertEqual(b.concurrency, .sync)
        XCTAssertEqual(b.idleTimeout, .milliseconds(250))
        XCTAssertEqual(config.services[2].listen, .tcp(.inet6(host: "fe80::1", port: 0, scopeID: 1)))
        XCTAssertEqual(config.services.map(\.name), ["a", "b", "c"])
    }

    func testCommentsBlankLinesAndWhitespace() throws {
        let text = "# leading comment\r\n; another\r\n\r\n  [service x]   # trailing\r\n"
            + "\tlisten\t=\ttcp://127.0.0.1:7100\t; comment\r\n"
            + "handler = echo#not-a-comment-but-unknown\n"
        XCTAssertEqual(configErrors(text), [
            "main.conf:6: unknown handler 'echo#not-a-comment-but-unknown' "
                + "(known handlers: beacon, broken, daytime, discard, echo, upload, upper) "
                + "(if '#not-a-comment-but-unknown' is meant as a comment, it needs a space before '#')",
        ])
        let fixed = text.replacingOccurrences(of: "#not-a-comment-but-unknown", with: " #comment")
        XCTAssertEqual(configLoaded(fixed)?.services.first?.listen, .tcp(.inet(host: "127.0.0.1", port: 7100)))
    }

    func testUserAndGroupCheckedOnlyForRoot() throws {
        let text = "[daemon]\nuser = nobody\ngroup = nogroup\n" + configService()
        XCTAssertNotNil(configLoaded(text, forRoot: true))
        let missing = "[daemon]\nuser = no-such-user-xyz\ngroup = no-such-group-xyz\n" + configService()
        XCTAssertEqual(configLoaded(missing)?.user, "no-such-user-xyz")
        assertConfigErrors(missing, [
            "main.conf:2: user 'no-such-user-xyz' does not exist",
            "main.conf:3: group 'no-such-group-xyz' does not exist",
        ], forRoot: true)
    }

    /// A truncated or half-written file, applied on HUP, would close every listener: refused.
    func testConfigWithoutServicesIsRefused() throws {
        let refusal = "main.conf: no [service NAME] section in it or in the files it includes; "
            + "a configuration that serves nothing is refused (is the file truncated or half written?)"
        for text in ["", "; nothing\n", "[daemon]\nlog_level = debug\n", "[plugin p]\npath = /x/p.so\n"] {
            XCTAssertEqual(configErrors(text), [refusal], text)
        }
        let dir = try ConfigTempDir()
        _ = try dir.makeDirectory("conf.d")
        let main = try dir.write("main.conf", "[daemon]\ninclude = conf.d/*.conf\n")
        XCTAssertThrowsError(try ConfigLoader.load(path: main, catalog: ConfigTestCatalog(), cpuCount: 1)) { error in
            XCTAssertEqual("\(error)", "\(main): no [service NAME] section in it or in the files it includes; "
                + "a configuration that serves nothing is refused (is the file truncated or half written?)")
        }
        try dir.write("conf.d/a.conf", configService())
        XCTAssertEqual(try ConfigLoader.load(path: main, catalog: ConfigTestCatalog(), cpuCount: 1).services.map(\.name), ["s"])
    }

    func testErrorDescriptions() {
        XCTAssertEqual(ConfigError("boom", at: SourceLocation(file: "a.conf", line: 3)).description, "a.conf:3: boom")
        XCTAssertEqual(ConfigError("boom", at: nil).description, "boom")
        let errors = ConfigErrors([ConfigError("a", at: nil), ConfigError("b", at: SourceLocation(file: "f", line: 1))])
        XCTAssertEqual(errors.description, "a\nf:1: b")
    }
}
