// `user = root` is refused at its line; the workers' account is resolved from the config.
import Foundation
@testable import SocketServerDaemon
import SocketServerTestSupport
import XCTest

final class CredentialsTests: XCTestCase {
    func testRootUserIsRefusedAtItsLine() throws {
        let root = try XCTUnwrap(getpwuid(0).map { String(cString: $0.pointee.pw_name) })
        let expected = "main.conf:3: user '\(root)' is root (uid 0); workers never run as root: "
            + "name an unprivileged account (the default is nobody)"
        for forRoot in [true, false] {
            assertConfigErrors("[daemon]\nlog_level = info\nuser = \(root)\n", [expected], forRoot: forRoot)
        }
        // group = root is allowed: only the user decides who owns the process.
        XCTAssertEqual(configLoaded("[daemon]\nuser = nobody\ngroup = \(root)\n" + configService(), forRoot: true)?.group, root)
    }

    func testRootUserInAnIncludedFileIsReportedThere() throws {
        let dir = try ConfigTempDir()
        try dir.write("conf.d/10-user.conf", "; who the workers are\n[daemon]\nuser = root\n")
        let main = try dir.write("main.conf", "[daemon]\ninclude = conf.d/*.conf\n")
        XCTAssertThrowsError(try ConfigLoader.load(path: main, catalog: ConfigTestCatalog(), cpuCount: 1)) { error in
            let errors = (error as? ConfigErrors)?.errors ?? []
            XCTAssertEqual(errors.map(\.location), [SourceLocation(file: dir.path + "/conf.d/10-user.conf", line: 3)], "\(error)")
        }
    }

    func testResolvedAsRootOnly() throws {
        var config = DaemonConfig()
        guard geteuid() == 0 else {
            config.user = "nobody"
            XCTAssertNil(try Credentials.resolve(for: config), "not root: workers keep the master's user")
            return
        }
        let nobody = try XCTUnwrap(getpwnam("nobody")).pointee
        let resolved = try XCTUnwrap(try Credentials.resolve(for: config), "the default user is nobody")
        XCTAssertEqual(resolved.user, "nobody")
        XCTAssertEqual(resolved.uid, nobody.pw_uid)
        XCTAssertEqual(resolved.gid, nobody.pw_gid)
        XCTAssertTrue(resolved.groups.contains(nobody.pw_gid), "\(resolved.groups)")
        XCTAssertEqual(resolved.description, "user nobody (uid \(nobody.pw_uid), gid \(nobody.pw_gid))")
        XCTAssertGreaterThanOrEqual(resolved.lastCapability, 36)  // CAP_AUDIT_READ (Linux 3.16)

        config.group = "root"
        XCTAssertEqual(try Credentials.resolve(for: config)?.gid, 0)
        config.user = "root"
        XCTAssertThrowsError(try Credentials.resolve(for: config)) { error in
            XCTAssertEqual("\(error)", "user root is root (uid 0); workers never run as root")
        }
        config.user = "no-such-user-xyz"
        XCTAssertThrowsError(try Credentials.resolve(for: config)) { error in
            XCTAssertEqual("\(error)", "user no-such-user-xyz does not exist")
        }
    }

    /// The master kills the process groups workers name in shared memory with the workers'
    /// permissions: a group of root's survives, one of the user's does not, and the master is
    /// root again afterwards.
    func testGroupsAreKilledWithTheWorkersPermissions() throws {
        try XCTSkipIf(geteuid() != 0, "needs root")
        var config = DaemonConfig()
        config.user = "nobody"
        let nobody = try XCTUnwrap(try Credentials.resolve(for: config))
        let roots = try spawnGroup(["/usr/bin/sleep", "30"])
        let users = try spawnGroup(["/usr/bin/setpriv", "--reuid=\(nobody.uid)", "--regid=\(nobody.gid)", "--clear-groups",
                                    "/usr/bin/sleep", "30"])
        defer {
            for pid in [roots, users] {
                kill(pid, SIGKILL)
                var status: Int32 = 0
                waitpid(pid, &status, 0)
            }
        }
        // setpriv has become nobody once sleep runs in its place.
        eventually { processName(of: users) == "sleep" }

        Credentials.kill(group: roots, SIGKILL, as: nobody)
        Credentials.kill(group: users, SIGKILL, as: nobody)
        XCTAssertEqual(geteuid(), 0)
        XCTAssertEqual(getuid(), 0)
        var status: Int32 = 0
        XCTAssertEqual(waitpid(users, &status, 0), users)
        XCTAssertEqual(status & 0x7f, SIGKILL, "the user's group is killed")
        XCTAssertEqual(waitpid(roots, &status, WNOHANG), 0, "root's group survives")
    }

    /// Spawns `arguments` as the leader of a new process group.
    private func spawnGroup(_ arguments: [String]) throws -> pid_t {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))
        posix_spawnattr_setpgroup(&attributes, 0)
        let argv = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let code = posix_spawn(&pid, arguments[0], nil, &attributes, argv, environ)
        guard code == 0 else { throw DaemonError.system("posix_spawn \(arguments[0])", code) }
        return pid
    }
}
