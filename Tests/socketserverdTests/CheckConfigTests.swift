// `socketserverd --check-config`: like `nginx -t`, every problem named with file:line.
import Foundation
import SocketServerTestSupport
import XCTest

final class CheckConfigTests: DaemonTestCase {
    /// Runs the binary with `arguments`; returns (exit status, stdout+stderr).
    func run(_ arguments: [String], file: StaticString = #filePath, line: UInt = #line) throws -> (Int32, String) {
        try runDaemonBinary(arguments, file: file, line: line).statusAndOutput
    }

    /// Runs the binary with `arguments` (in `workingDirectory`, if given); returns (exit status, stdout, stderr).
    func runSeparately(_ arguments: [String], in workingDirectory: String? = nil) throws -> (Int32, String, String) {
        let result = try runDaemonBinary(arguments, in: workingDirectory)
        return (result.status ?? -1, result.stdout, result.stderr)
    }

    func testValidConfigPasses() throws {
        let path = writeConfig("[service echo]\nlisten = tcp://127.0.0.1:7\nhandler = echo\n", to: configDirectory + "/ok.conf")
        let (status, output) = try run(["--check-config", "--config", path])
        XCTAssertEqual(status, 0, output)
        XCTAssertTrue(output.contains("syntax is ok"), output)
    }

    /// The shipped config, installed as the package installs it: beside an empty conf.d/, in a
    /// directory only its owner can write.
    func testShippedConfigPasses() throws {
        let shipped = repositoryRoot + "/etc/socketserverd/socketserverd.conf"
        let installed = writeConfig(try XCTUnwrap(readFile(shipped), "no \(shipped)"), to: configPath)
        mkdir(configDirectory + "/conf.d", 0o755)
        let (status, output) = try run(["-t", "-c", installed])
        XCTAssertEqual(status, 0, output)
    }

    /// Every problem is one plain `file:line: message` line on stderr (no timestamp, pid or level,
    /// so that editors and grep jump to it), in file order, then one summary line.
    func testEveryErrorNamesFileAndLine() throws {
        let conf = configDirectory + "/bad.conf"
        writeConfig("""
            [daemon]
            log_level = loud
            include = conf.d/*.conf

            [service a]
            listen = tcp://127.0.0.1:70000
            handler = echo
            wokers = 2

            [service b]
            listen = udp://127.0.0.1:7
            handler = upload
            """, to: conf)
        mkdir(configDirectory + "/conf.d", 0o755)
        let extra = writeConfig("[service c]\nlisten = tcp://127.0.0.1:7\nhandler = nope\n", to: configDirectory + "/conf.d/extra.conf")
        let (status, stdout, stderr) = try runSeparately(["--check-config", "--config", conf])
        XCTAssertEqual(status, 1, stderr)
        XCTAssertEqual(stdout, "")
        for expected in ["wokers", "did you mean 'workers'"] {
            XCTAssertTrue(stderr.contains(expected), "missing \(expected) in:\n\(stderr)")
        }
        let lines = stderr.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let located = lines.dropLast(2)
        XCTAssertEqual(lines.suffix(2), ["socketserverd: configuration file \(conf) test failed: \(located.count) error(s)", ""],
                       stderr)
        // Each line starts with its place; the places are in file order.
        let places = located.map { line in line.split(separator: " ", maxSplits: 1).first.map(String.init) ?? "" }
        XCTAssertEqual(places, ["\(conf):2:", "\(conf):6:", "\(conf):8:", "\(conf):10:", "\(conf):12:", "\(extra):3:"], stderr)
        XCTAssertFalse(lines.contains { $0.contains(" error: ") || $0.hasPrefix("[") || $0.hasPrefix("20") }, stderr)
    }

    /// The hints a user needs for the usual slips, each at its line.
    func testHintsForCommonMistakes() throws {
        writeConfig("""
            [daemon]
            listen = tcp://127.0.0.1:7
            include = drop.d/*.conf
            include = extra.conf
            [service a]
            listen = tcp://127.0.0.1:7
            handler = echo;the echo service
            [service b]
            listen = tcp://127.0.0.1:8
            handler = echo
            user = nobody
            """, to: configDirectory + "/hints.conf")
        // Relative to the working directory: the messages show the absolute paths looked for.
        let (status, _, stderr) = try runSeparately(["--check-config", "--config", "hints.conf"], in: configDirectory)
        XCTAssertEqual(status, 1, stderr)
        let absolute = realPath(configDirectory)
        let lines = stderr.split(separator: "\n").map(String.init)
        for expected in [
            "hints.conf:2: unknown key 'listen' (it belongs in a [service NAME] section)",
            "hints.conf:3: include 'drop.d/*.conf': the directory \(absolute)/drop.d does not exist",
            "hints.conf:4: include 'extra.conf': \(absolute)/extra.conf does not exist",
            "hints.conf:7: unknown handler 'echo;the echo service'",
            "hints.conf:11: unknown key 'user' (it belongs in [daemon])",
        ] {
            XCTAssertTrue(lines.contains { $0.hasPrefix(expected) }, "missing '\(expected)' in:\n\(stderr)")
        }
        XCTAssertTrue(lines.contains { $0.hasPrefix("hints.conf:7:")
            && $0.hasSuffix("(if ';the echo service' is meant as a comment, it needs a space before ';')") }, stderr)
        XCTAssertEqual(lines.last, "socketserverd: configuration file hints.conf test failed: 5 error(s)")
    }

    /// A file without services (truncated, half written) is refused by the check and at start.
    func testConfigWithoutServicesIsRefused() throws {
        let path = writeConfig("[daemon]\ngraceful_timeout = 5\n", to: configDirectory + "/empty.conf")
        let refusal = "\(path): no [service NAME] section in it or in the files it includes"
        let (status, _, stderr) = try runSeparately(["--check-config", "--config", path])
        XCTAssertEqual(status, 1, stderr)
        XCTAssertTrue(stderr.hasPrefix("socketserverd: \(refusal)"), stderr)
        let (startStatus, output) = try run(["--config", path])
        XCTAssertEqual(startStatus, 1, output)
        XCTAssertTrue(output.contains(refusal) && output.contains("not starting"), output)
    }

    func testMissingFileAndBadArguments() throws {
        let (status, output) = try run(["--check-config", "--config", configDirectory + "/absent.conf"])
        XCTAssertEqual(status, 1)
        XCTAssertTrue(output.contains("absent.conf"), output)
        let (usageStatus, usage) = try run(["--bogus"])
        XCTAssertEqual(usageStatus, 2)
        XCTAssertTrue(usage.contains("unknown argument --bogus") && usage.contains("usage:"), usage)
        let (versionStatus, version) = try run(["--version"])
        XCTAssertEqual(versionStatus, 0)
        XCTAssertTrue(version.hasPrefix("socketserverd "), version)
    }

    func testStartWithBrokenConfigExitsNonZero() throws {
        let path = writeConfig("[service x]\nlisten = bogus\nhandler = echo\n", to: configDirectory + "/broken.conf")
        let (status, output) = try run(["--config", path])
        XCTAssertEqual(status, 1)
        XCTAssertTrue(output.contains("broken.conf:2:") && output.contains("not starting"), output)
    }
}
