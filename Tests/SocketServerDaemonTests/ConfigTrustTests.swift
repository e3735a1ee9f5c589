// Config files and their directories must not be writable by group or others, and must be root's
// when the daemon runs as root; an include that breaks the rule is refused at its line.
import Foundation
@testable import SocketServerDaemon
import XCTest

final class ConfigTrustTests: XCTestCase {
    private func errors(_ path: String, forRoot: Bool = false) -> [String] {
        do {
            let config = try ConfigLoader.load(path: path, catalog: ConfigTestCatalog(), cpuCount: 1, forRoot: forRoot)
            XCTFail("expected errors, loaded \(config)")
            return []
        } catch {
            return error.errors.map(\.description)
        }
    }

    private func loads(_ path: String, forRoot: Bool = false) -> Bool {
        (try? ConfigLoader.load(path: path, catalog: ConfigTestCatalog(), cpuCount: 1, forRoot: forRoot)) != nil
    }

    func testWritableGlobDirectoryIsRefusedAtTheIncludeLine() throws {
        let dir = try ConfigTempDir()
        let drop = try dir.makeDirectory("drop.d")
        let main = try dir.write("main.conf", "[daemon]\n\ninclude = drop.d/*.conf\n" + configService())
        XCTAssertTrue(loads(main))
        for (mode, who) in [(0o777 as mode_t, "everyone (mode 0777"), (0o1777, "everyone (mode 1777, sticky bit or not"),
                            (0o775, "its group (mode 0775"), (0o757, "everyone (mode 0757")] {
            chmod(drop, mode)
            // Refused whether or not it holds a file yet: anyone may add one before the next reload.
            XCTAssertEqual(errors(main), ["\(main):3: refusing include 'drop.d/*.conf': the directory \(drop) is writable by "
                + "\(who); chmod go-w \(drop)); whoever can write there can add config files"])
        }
        chmod(drop, 0o755)
        try dir.write("drop.d/a.conf", configService("a", listen: "tcp://127.0.0.1:7001"))
        XCTAssertTrue(loads(main))
    }

    func testWritableFileOrDirectoryOfALiteralIncludeIsRefused() throws {
        let dir = try ConfigTempDir()
        let part = try dir.write("parts/p.conf", configService("p"))
        let main = try dir.write("main.conf", "include = parts/p.conf\n")
        XCTAssertTrue(loads(main))
        chmod(part, 0o646)
        XCTAssertEqual(errors(main), ["\(main):1: refusing \(part): it is writable by everyone (mode 0646; chmod go-w \(part)); "
            + "whoever can write a config file can make the daemon run programs"])
        chmod(part, 0o644)
        chmod(dir.path + "/parts", 0o770)
        XCTAssertEqual(errors(main), ["\(main):1: refusing \(part): its directory \(dir.path)/parts is writable by its group "
            + "(mode 0770; chmod go-w \(dir.path)/parts); whoever can write there can add or replace config files"])
    }

    func testMainFileAndItsDirectory() throws {
        let dir = try ConfigTempDir()
        let main = try dir.write("main.conf", configService())
        chmod(main, 0o664)
        XCTAssertEqual(errors(main), ["refusing \(main): it is writable by its group (mode 0664; chmod go-w \(main)); "
            + "whoever can write a config file can make the daemon run programs"])
        chmod(main, 0o644)
        chmod(dir.path, 0o1777)
        XCTAssertEqual(errors(main), ["refusing \(main): its directory \(dir.path) is writable by everyone (mode 1777, sticky "
            + "bit or not; chmod go-w \(dir.path)); whoever can write there can add or replace config files"])
        chmod(dir.path, 0o755)
        XCTAssertTrue(loads(main))
    }

    /// Behind a symbolic link, the directory the file really is in counts too.
    func testLinkIntoAWritableDirectoryIsRefused() throws {
        let dir = try ConfigTempDir()
        let open = try dir.makeDirectory("open")
        let target = try dir.write("open/p.conf", configService("p"))
        let link = dir.path + "/parts/p.conf"
        _ = try dir.makeDirectory("parts")
        XCTAssertEqual(symlink(target, link), 0)
        let main = try dir.write("main.conf", "include = parts/*.conf\n")
        XCTAssertTrue(loads(main))
        chmod(open, 0o777)
        XCTAssertEqual(errors(main), ["\(main):1: refusing \(link): its directory \(open) is writable by everyone "
            + "(mode 0777; chmod go-w \(open)); whoever can write there can add or replace config files"])
    }

    /// Run as root, every file and directory must be root's; otherwise root's or the user's own.
    func testOwnership() throws {
        let dir = try ConfigTempDir()
        let part = try dir.write("part.conf", configService())
        let main = try dir.write("main.conf", "include = part.conf\n")
        let stranger: uid_t = 65534
        if geteuid() == 0 {
            XCTAssertTrue(loads(main, forRoot: true))
            XCTAssertEqual(chown(part, stranger, stranger), 0)
            XCTAssertEqual(errors(main, forRoot: true), ["\(main):1: refusing \(part): it is owned by uid \(stranger), not root "
                + "(the daemon runs as root; chown root \(part)); whoever can write a config file can make the daemon run programs"])
            XCTAssertEqual(errors(main), ["\(main):1: refusing \(part): it is owned by uid \(stranger), neither root nor the "
                + "daemon's user (uid 0); whoever can write a config file can make the daemon run programs"])
        } else {
            // The files are this user's: fine for a daemon running as this user, not for one running as root.
            XCTAssertTrue(loads(main))
            XCTAssertEqual(errors(main, forRoot: true).first, "refusing \(main): it is owned by uid \(geteuid()), not root "
                + "(the daemon runs as root; chown root \(main)); whoever can write a config file can make the daemon run programs")
        }
    }

    func testGlobDirectoryMustExist() throws {
        let dir = try ConfigTempDir()
        let main = try dir.write("main.conf", "include = conf.d/*.conf\ninclude = main.conf/*.conf\ninclude = /nonexistent-ssd/*/x.conf\n"
            + configService())
        XCTAssertEqual(errors(main), [
            "\(main):1: include 'conf.d/*.conf': the directory \(dir.path)/conf.d does not exist",
            "\(main):2: include 'main.conf/*.conf': \(dir.path)/main.conf is not a directory",
            "\(main):3: include '/nonexistent-ssd/*/x.conf': the directory /nonexistent-ssd does not exist",
        ])
    }

    /// With a relative main file, a missing include names the absolute path that was looked for.
    func testMissingIncludeShowsTheAbsolutePath() throws {
        let cwd = FileManager.default.currentDirectoryPath
        let errors = configErrors("[daemon]\ninclude = sub/none-\(UUID().uuidString).conf\n", file: "rel/main.conf")
        XCTAssertEqual(errors.count, 1)
        XCTAssertTrue(errors.first?.hasPrefix("rel/main.conf:2: include 'sub/none-") ?? false, "\(errors)")
        XCTAssertTrue(errors.first?.contains(": \(cwd)/rel/sub/none-") ?? false, "\(errors)")
        XCTAssertTrue(errors.first?.hasSuffix(".conf does not exist") ?? false, "\(errors)")
    }

    func testLiteralDirectoryOfAPattern() {
        XCTAssertEqual(ConfigFiles.literalDirectory(ofPattern: "/etc/x/*.conf"), "/etc/x")
        XCTAssertEqual(ConfigFiles.literalDirectory(ofPattern: "*.conf"), ".")
        XCTAssertEqual(ConfigFiles.literalDirectory(ofPattern: "/*.conf"), "/")
        XCTAssertEqual(ConfigFiles.literalDirectory(ofPattern: "a/*/b/*.conf"), "a")
        XCTAssertEqual(ConfigFiles.literalDirectory(ofPattern: "/d/odd\\[1]\\*/main.conf"), "/d/odd[1]*")
        XCTAssertEqual(ConfigFiles.literalDirectory(ofPattern: "/d/x?/a.conf"), "/d")
    }
}
