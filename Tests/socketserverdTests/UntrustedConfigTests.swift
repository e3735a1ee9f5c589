// Config files others can change are refused, as plugins are: a writable include directory (sticky
// or not), a writable included file, a file not owned by root when the daemon runs as root.
import Foundation
import SocketServerTestSupport
import XCTest

final class UntrustedConfigTests: DaemonTestCase {
    /// `socketserverd ARGUMENTS`: (exit status, stdout and stderr).
    func run(_ arguments: [String], file: StaticString = #filePath, line: UInt = #line) throws -> (Int32, String) {
        try runDaemonBinary(arguments, file: file, line: line).statusAndOutput
    }

    /// The main file: it includes `drop.d/*.conf` (line 3).
    let main = DaemonConfigBuilder(daemon: ["graceful_timeout": 5, "include": "drop.d/*.conf"], services: [Service("echo", ["workers": 1])])

    /// The drop.d directory with `mode`.
    func dropDirectory(mode: mode_t) -> String {
        let drop = configDirectory + "/drop.d"
        mkdir(drop, 0o755)
        chmod(drop, mode)
        return drop
    }

    /// The main file and the drop.d directory with `mode`, for runs that never serve (the port is unused).
    func mainWithDropDirectory(mode: mode_t) throws -> (main: String, drop: String) {
        let drop = dropDirectory(mode: mode)
        return (writeConfig(try main.text(ports: ["echo": 7]), to: configPath), drop)
    }

    /// What anyone who can write to drop.d could plant: a service that runs a program.
    @discardableResult
    func plant(in drop: String, port: Int = 7) -> String {
        writeConfig("[service planted]\nlisten = tcp://127.0.0.1:\(port)\nhandler = exec\ncommand = /bin/cat\n",
                    to: drop + "/planted.conf")
    }

    func testWritableIncludeDirectoryIsRefusedAtTheIncludeLine() throws {
        let (main, drop) = try mainWithDropDirectory(mode: 0o777)
        let planted = freePort()
        _ = plant(in: drop, port: planted)
        let (status, output) = try run(["--check-config", "--config", main])
        XCTAssertEqual(status, 1, output)
        XCTAssertTrue(output.contains("\(main):3: refusing include 'drop.d/*.conf': the directory \(drop) is writable by "
            + "everyone (mode 0777; chmod go-w \(drop))"), output)

        // Sticky, as /tmp is: anyone may still add a file.
        chmod(drop, 0o1777)
        let (stickyStatus, sticky) = try run(["--check-config", "--config", main])
        XCTAssertEqual(stickyStatus, 1, sticky)
        XCTAssertTrue(sticky.contains("\(main):3: refusing include 'drop.d/*.conf': the directory \(drop) is writable by "
            + "everyone (mode 1777, sticky bit or not"), sticky)

        // Writable by the group only: refused too; the daemon does not start on it.
        chmod(drop, 0o775)
        let (startStatus, start) = try run(["--config", main])
        XCTAssertEqual(startStatus, 1, start)
        XCTAssertTrue(start.contains("\(main):3: refusing include 'drop.d/*.conf': the directory \(drop) is writable by "
            + "its group (mode 0775") && start.contains("not starting"), start)
        XCTAssertTrue(waitUntilRefused(port: planted, within: .seconds(1)), "the planted service serves")
    }

    func testWritableIncludedFileAndSymlinkIntoAWritableDirectoryAreRefused() throws {
        let (main, drop) = try mainWithDropDirectory(mode: 0o755)
        let file = plant(in: drop)
        chmod(file, 0o664)
        let (status, output) = try run(["--check-config", "--config", main])
        XCTAssertEqual(status, 1, output)
        XCTAssertTrue(output.contains("\(main):3: refusing \(file): it is writable by its group (mode 0664"), output)

        // A link from the trusted directory to a file in a writable one: the file's own directory counts.
        let open = directory + "/open"  // 0777, like the test directory
        mkdir(open, 0o777)
        chmod(open, 0o777)
        let target = plant(in: open)
        XCTAssertEqual(unlink(file), 0)
        XCTAssertEqual(symlink(target, file), 0)
        let (linkStatus, link) = try run(["--check-config", "--config", main])
        XCTAssertEqual(linkStatus, 1, link)
        XCTAssertTrue(link.contains("\(main):3: refusing \(file): its directory \(realPath(open)) is writable by everyone"), link)
    }

    func testMainFileInAWritableDirectoryIsRefused() throws {
        let main = writeConfig("[service a]\nlisten = tcp://127.0.0.1:7\nhandler = echo\n", to: directory + "/main.conf")
        let (status, output) = try run(["--check-config", "--config", main])
        XCTAssertEqual(status, 1, output)
        XCTAssertTrue(output.contains("socketserverd: refusing \(main): its directory \(realPath(directory)) is writable by "
            + "everyone (mode 0777"), output)
    }

    func testRootDaemonRefusesAFileNotOwnedByRoot() throws {
        try XCTSkipIf(geteuid() != 0, "needs root to give a file away")
        let (main, drop) = try mainWithDropDirectory(mode: 0o755)
        let file = plant(in: drop)
        XCTAssertEqual(chown(file, 65534, 65534), 0)
        let (status, output) = try run(["--check-config", "--config", main])
        XCTAssertEqual(status, 1, output)
        XCTAssertTrue(output.contains("\(main):3: refusing \(file): it is owned by uid 65534, not root"), output)
    }

    /// Made writable while the daemon runs, the directory is refused on HUP; the old config serves on.
    func testReloadRefusesAnIncludeDirectoryMadeWritable() throws {
        let planted = freePort()
        let drop = dropDirectory(mode: 0o755)
        // The included service gets a passed socket as the main file's does.
        let extraService = Service("extra", handler: "echo", ["workers": 1])
        let sockets = try PassedSockets(for: main.services + [extraService])
        defer { sockets.close() }
        writeConfig(try DaemonConfigBuilder(services: [extraService]).text(ports: sockets.ports), to: drop + "/extra.conf")
        let daemon = try startDaemon(configAt: writeConfig(try main.text(ports: sockets.ports), to: configPath), passing: sockets)
        let port = daemon.port("echo"), extra = daemon.port("extra")
        XCTAssertEqual(try tcpRoundTrip(port: extra), "hello\n")

        chmod(drop, 0o777)
        _ = plant(in: drop, port: planted)
        daemon.signal(SIGHUP)
        XCTAssertTrue(daemon.waitForLog("reload failed"), daemon.log)
        XCTAssertTrue(daemon.log.contains("\(configPath):3: refusing include 'drop.d/*.conf'"), daemon.log)
        XCTAssertEqual(try tcpRoundTrip(port: port), "hello\n")
        XCTAssertEqual(try tcpRoundTrip(port: extra), "hello\n")
        XCTAssertTrue(waitUntilRefused(port: planted, within: .seconds(1)), "the planted service serves")
        XCTAssertNil(daemon.reapIfExited())
    }

}
