// `user = root` is refused at its line; the workers' account is resolved from the config.
import Foundation
@testable import SocketServerDaemon
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
        XCTAssertEqual(configLoaded("[daemon]\nuser = nobody\ngroup = \(root)\n", forRoot: true)?.group, root)
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
}
