// Started as root, the check (--check-config, start, HUP) looks at what the workers will touch as
// the user they run as, and at what the master opens, each at its file:line.
import Foundation
import SocketServer
import SocketServerTestSupport
import XCTest

final class RootCheckTests: DaemonTestCase {
    func testWhatTheWorkersTouchIsCheckedAsTheirUser() throws {
        try XCTSkipIf(getuid() != 0, "needs root: the check must start as root")
        _ = try RootPrivilegeTests.ensureUser()
        let hidden = directory + "/private"
        mkdir(hidden, 0o700)
        chmod(hidden, 0o700)
        mkdir(hidden + "/uploads", 0o777)
        let program = writeScript("#!/bin/sh\necho hi\n", to: hidden + "/prog.sh")
        let reachable = writeScript("#!/bin/sh\npwd\n", to: directory + "/pwd.sh")
        let readOnly = directory + "/readonly"
        mkdir(readOnly, 0o755)
        chmod(readOnly, 0o755)
        let (status, output) = try checkConfig("""
            [daemon]
            user = \(RootPrivilegeTests.user)

            [service up]
            listen = tcp://127.0.0.1:7
            handler = upload
            directory = \(hidden)/uploads

            [service ro]
            listen = tcp://127.0.0.1:8
            handler = upload
            directory = \(readOnly)

            [service run]
            listen = tcp://127.0.0.1:9
            handler = exec
            command = \(program)

            [service cwd]
            listen = tcp://127.0.0.1:10
            handler = exec
            command = \(reachable)
            directory = \(hidden)
            """).statusAndOutput
        XCTAssertEqual(status, 1, output)
        XCTAssertTrue(output.contains("check.conf:7:") && output.contains("Permission denied"), output)
        XCTAssertTrue(output.contains("check.conf:12:") && output.contains("not writable by user \(RootPrivilegeTests.user)"), output)
        XCTAssertTrue(output.contains("check.conf:17:") && output.contains("Permission denied"), output)
        XCTAssertTrue(output.contains("check.conf:23: directory: \(hidden) cannot be entered by uid"), output)
    }

    func testLogAndPidFilesInAMissingDirectoryAreErrorsAtTheirLine() throws {
        let (status, output) = try checkConfig("""
            [daemon]
            log_file = \(directory)/missing/daemon.log
            pid_file = \(directory)/missing/daemon.pid

            [service echo]
            listen = tcp://127.0.0.1:7
            handler = echo
            """).statusAndOutput
        XCTAssertEqual(status, 1, output)
        XCTAssertTrue(output.contains("check.conf:2:") && output.contains("log_file"), output)
        XCTAssertTrue(output.contains("check.conf:3:") && output.contains("pid_file"), output)
    }
}
