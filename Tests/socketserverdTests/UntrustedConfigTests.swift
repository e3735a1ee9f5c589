// Config files others can change are refused, as plugins are: a writable include directory (sticky
// or not), a writable included file, a file not owned by root when the daemon runs as root.
import Foundation
import XCTest

final class UntrustedConfigTests: DaemonTestCase {
    /// `socketserverd ARGUMENTS`: (exit status, stdout and stderr).
    func run(_ arguments: [String]) throws -> (Int32, String) {
        let output = directory + "/out-\(UUID().uuidString).txt"
        let pid = try spawn(DaemonProcess.binaryPath, arguments, env: ["PATH=/usr/bin:/bin"], stdout: output, stderr: output)
        let status = exitCode(of: pid)
        let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
        XCTAssertNotNil(status, "socketserverd \(arguments.joined(separator: " ")) did not exit within 20 s:\n\(text)")
        return (status ?? -1, text)
    }

    /// A main file that includes `drop.d/*.conf` (line 3), and the drop.d directory with `mode`.
    func mainWithDropDirectory(mode: mode_t, port: Int) -> (main: String, drop: String) {
        let drop = configDirectory + "/drop.d"
        mkdir(drop, 0o755)
        chmod(drop, mode)
        let main = writeConfig("""
            [daemon]
            graceful_timeout = 5
            include = drop.d/*.conf
            [service echo]
            listen = tcp://127.0.0.1:\(port)
            handler = echo
            workers = 1
            """, to: configDirectory + "/socketserverd.conf")
        return (main, drop)
    }

    /// What anyone who can write to drop.d could plant: a service that runs a program.
    func plant(in drop: String, port: Int) -> String {
        writeConfig("[service planted]\nlisten = tcp://127.0.0.1:\(port)\nhandler = exec\ncommand = /bin/cat\n",
                    to: drop + "/planted.conf")
    }

    func testWritableIncludeDirectoryIsRefusedAtTheIncludeLine() throws {
        let (main, drop) = mainWithDropDirectory(mode: 0o777, port: freePort())
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
        XCTAssertTrue(waitUntilRefused(port: planted, timeout: 1), "the planted service serves")
    }

    func testWritableIncludedFileAndSymlinkIntoAWritableDirectoryAreRefused() throws {
        let (main, drop) = mainWithDropDirectory(mode: 0o755, port: freePort())
        let file = plant(in: drop, port: freePort())
        chmod(file, 0o664)
        let (status, output) = try run(["--check-config", "--config", main])
        XCTAssertEqual(status, 1, output)
        XCTAssertTrue(output.contains("\(main):3: refusing \(file): it is writable by its group (mode 0664"), output)

        // A link from the trusted directory to a file in a writable one: the file's own directory counts.
        let open = directory + "/open"  // 0777, like the test directory
        mkdir(open, 0o777)
        chmod(open, 0o777)
        let target = plant(in: open, port: freePort())
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
        let (main, drop) = mainWithDropDirectory(mode: 0o755, port: freePort())
        let file = plant(in: drop, port: freePort())
        XCTAssertEqual(chown(file, 65534, 65534), 0)
        let (status, output) = try run(["--check-config", "--config", main])
        XCTAssertEqual(status, 1, output)
        XCTAssertTrue(output.contains("\(main):3: refusing \(file): it is owned by uid 65534, not root"), output)
    }

    /// Made writable while the daemon runs, the directory is refused on HUP; the old config serves on.
    func testReloadRefusesAnIncludeDirectoryMadeWritable() throws {
        let port = freePort(), extra = freePort(), planted = freePort()
        let (main, drop) = mainWithDropDirectory(mode: 0o755, port: port)
        writeConfig("[service extra]\nlisten = tcp://127.0.0.1:\(extra)\nhandler = echo\nworkers = 1\n", to: drop + "/extra.conf")
        let daemon = try DaemonProcess(configPath: main, directory: directory)
        daemons.append(daemon)
        try daemon.waitReady()
        XCTAssertEqual(try tcpRoundTrip(port: extra), "hello\n")

        chmod(drop, 0o777)
        _ = plant(in: drop, port: planted)
        daemon.signal(SIGHUP)
        XCTAssertTrue(daemon.waitForLog("reload failed"), daemon.log)
        XCTAssertTrue(daemon.log.contains("\(main):3: refusing include 'drop.d/*.conf'"), daemon.log)
        XCTAssertEqual(try tcpRoundTrip(port: port), "hello\n")
        XCTAssertEqual(try tcpRoundTrip(port: extra), "hello\n")
        XCTAssertTrue(waitUntilRefused(port: planted, timeout: 1), "the planted service serves")
        XCTAssertNil(daemon.reapIfExited())
    }

    func realPath(_ path: String) -> String {
        guard let real = realpath(path, nil) else { return path }
        defer { free(real) }
        return String(cString: real)
    }
}
