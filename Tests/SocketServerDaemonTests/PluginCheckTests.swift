// The pieces of the forked plugin check that need no daemon: the pipe's message framing, how a
// child's end becomes errors, and the file checks made before any plugin code is mapped.
import Foundation
@testable import SocketServerDaemon
import XCTest

final class PluginCheckTests: XCTestCase {
    let here = SourceLocation(file: "/etc/a b.conf", line: 7)

    func testMessagesSurviveTheirFraming() {
        let messages: [ConfigCheckMessage] = [
            .busy(plugin: "p", location: here, activity: "loading"),
            .idle,
            .error(ConfigError("tab\tnew\nline 'quoted' ✓", at: here)),
            .error(ConfigError("nowhere", at: nil)),
            .done,
        ]
        let bytes = messages.flatMap { $0.encoded() }
        XCTAssertEqual(ConfigCheckMessage.decode(bytes), messages)
        // A child killed mid-write leaves a truncated tail, which is dropped.
        XCTAssertEqual(ConfigCheckMessage.decode(Array(bytes.dropLast(3))), Array(messages.prefix(3)))
    }

    func testTheVerdictBlamesThePluginThatWasRunning() {
        let error = ConfigError("bad key", at: here)
        XCTAssertEqual(ConfigCheck.verdict([.error(error), .done], status: 0, timedOut: false), .finished([error]))
        let crashed = ConfigCheck.verdict([.busy(plugin: "p", location: here, activity: "loading")], status: SIGSEGV, timedOut: false)
        XCTAssertEqual(crashed, .pluginKilledCheck(plugin: "p", message:
            "plugin 'p': the process checking it was killed by SIGSEGV while loading; the plugin cannot be used"))
        let hung = ConfigCheck.verdict([.busy(plugin: "p", location: here, activity: "validating keys for handler 'h'")],
                                       status: SIGKILL, timedOut: true)
        XCTAssertEqual(hung, .pluginKilledCheck(plugin: "p", message: "plugin 'p': the process checking it did not finish "
            + "within 20 s and was killed while validating keys for handler 'h'; the plugin cannot be used"))
        XCTAssertEqual(ConfigCheck.verdict([.busy(plugin: "p", location: here, activity: "loading"), .idle], status: 1 << 8, timedOut: false),
                       .finished([ConfigError("the process checking the plugins exited with status 1", at: nil)]))
    }

    func testPluginFilesMustBeSafeToLoad() throws {
        let dir = try ConfigTempDir()
        chmod(dir.path, 0o755)
        XCTAssertEqual(failure(dir.path + "/absent.so"), "plugin file \(dir.path)/absent.so does not exist")
        let file = try dir.write("libx.so", "not a library")
        chmod(file, 0o644)
        guard case .success(let real) = PluginFile.check(file) else { return XCTFail("\(file) refused") }
        XCTAssertEqual(real, file)
        chmod(file, 0o646)
        XCTAssertEqual(failure(file), "plugin file \(file) is writable by everyone (mode 0646); refusing to load code others can change (chmod go-w)")
        chmod(file, 0o644)
        chmod(dir.path, 0o775)
        XCTAssertEqual(failure(file), "plugin directory \(dir.path) (of \(file)) is writable by its group (mode 0775); refusing to load code others can change (chmod go-w)")
        chmod(dir.path, 0o755)
        XCTAssertEqual(failure(dir.path), "plugin file \(dir.path) is not a regular file")
        symlink(dir.path + "/gone.so", dir.path + "/dangling.so")
        XCTAssertEqual(failure(dir.path + "/dangling.so"), "plugin file \(dir.path)/dangling.so does not exist (dangling symbolic link)")
        // Safe, but not a shared library: dlopen's reason is passed on.
        guard case .failure(let fault) = PluginLibrary.load(path: file) else { return XCTFail("loaded a text file") }
        XCTAssertTrue(fault.description.hasPrefix("cannot load plugin \(file): "), fault.description)
    }

    func failure(_ path: String) -> String? {
        if case .failure(let fault) = PluginFile.check(path) { return fault.description }
        return nil
    }
}
