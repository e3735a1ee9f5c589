// Who may talk to the control socket: root (or the daemon's user) and the daemon's group, through
// a file of mode 0660; any other user cannot open it.
import Foundation
import SocketServer
import SocketServerTestSupport
import XCTest

final class ControlAccessTests: DaemonTestCase {
    var controlPath: String { directory + "/control.sock" }

    /// `socketserverd status --json` run as `uid`:`gid` with no supplementary group.
    func status(asUser uid: uid_t, group gid: gid_t) throws -> ProcessOutput {
        try runProgram("/usr/bin/setpriv", ["--reuid=\(uid)", "--regid=\(gid)", "--clear-groups",
                                            DaemonProcess.binaryPath, "status", "--json", "--config", configPath])
    }

    func socketFile() -> stat? {
        var info = stat()
        return lstat(controlPath, &info) == 0 ? info : nil
    }

    func testStartedAsRootTheSocketIsRootsAndTheDaemonGroupsAndNobodyElseCanOpenIt() throws {
        try XCTSkipIf(getuid() != 0, "needs root: the master must start as root")
        let account = try RootPrivilegeTests.ensureUser()
        let nobody = try XCTUnwrap(getpwnam("nobody")?.pointee)
        XCTAssertNotEqual(nobody.pw_gid, account.gid, "nobody must not be in the test user's group")
        let daemon = try startDaemon(service: Service("echo", ["workers": 1]),
                                     daemon: ["user": RootPrivilegeTests.user, "control_socket": controlPath])
        let info = try XCTUnwrap(socketFile(), daemon.log)
        XCTAssertEqual(info.st_mode & S_IFMT, S_IFSOCK)
        XCTAssertEqual(info.st_mode & 0o7777, 0o660)
        XCTAssertEqual(info.st_uid, 0, "owned by root")
        XCTAssertEqual(info.st_gid, account.gid, "the daemon's group")

        XCTAssertEqual(try daemonStatus().pid, Int(daemon.pid), "root")
        let member = try status(asUser: account.uid, group: account.gid)
        XCTAssertEqual(member.status, 0, "a member of the daemon's group: \(member.output)")
        XCTAssertEqual(try DaemonStatus(json: member.stdout).pid, Int(daemon.pid))
        let other = try status(asUser: nobody.pw_uid, group: nobody.pw_gid)
        XCTAssertEqual(other.status, 1, other.output)
        XCTAssertEqual(other.stdout, "")
        XCTAssertTrue(other.stderr.contains("cannot connect to \(controlPath): Permission denied"), other.stderr)
        XCTAssertEqual(other.stderr.split(separator: "\n").count, 1, other.stderr)
    }

    /// As the packaged unit starts it: a normal user, whose socket it is, with its own group.
    func testStartedAsAUserTheSocketIsThatUsersAndGroups() throws {
        try XCTSkipIf(getuid() != 0, "needs root to start the daemon as another user")
        let account = try RootPrivilegeTests.ensureUser()
        let nobody = try XCTUnwrap(getpwnam("nobody")?.pointee)
        let setpriv = "exec /usr/bin/setpriv --reuid=\(account.uid) --regid=\(account.gid) --clear-groups \"$0\" \"$@\";"
        // The daemon binds its port itself: the wrapper's exec comes before sockets could be passed.
        let daemon = try startDaemon(service: Service("echo", listen: .tcpPort(freePort()), ["workers": 1]),
                                     daemon: ["control_socket": controlPath], wrapper: setpriv)
        let info = try XCTUnwrap(socketFile(), daemon.log)
        XCTAssertEqual(info.st_mode & 0o7777, 0o660)
        XCTAssertEqual(info.st_uid, account.uid)
        XCTAssertEqual(info.st_gid, account.gid)
        XCTAssertEqual(try status(asUser: account.uid, group: account.gid).status, 0)
        let other = try status(asUser: nobody.pw_uid, group: nobody.pw_gid)
        XCTAssertEqual(other.status, 1, other.output)
        XCTAssertTrue(other.stderr.contains("Permission denied"), other.stderr)
    }
}
