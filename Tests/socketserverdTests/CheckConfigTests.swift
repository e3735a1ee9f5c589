// `socketserverd --check-config`: like `nginx -t`, every problem named with file:line.
import Foundation
import XCTest

final class CheckConfigTests: DaemonTestCase {
    /// Runs the binary with `arguments`; returns (exit status, stdout+stderr).
    func run(_ arguments: [String]) throws -> (Int32, String) {
        let output = directory + "/out-\(UUID().uuidString).txt"
        let pid = try spawn(DaemonProcess.binaryPath, arguments, env: ["PATH=/usr/bin:/bin"], stdout: output, stderr: output)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        return ((status >> 8) & 0xff, (try? String(contentsOfFile: output, encoding: .utf8)) ?? "")
    }

    func testValidConfigPasses() throws {
        let path = writeConfig("[service echo]\nlisten = tcp://127.0.0.1:7\nhandler = echo\n", to: directory + "/ok.conf")
        let (status, output) = try run(["--check-config", "--config", path])
        XCTAssertEqual(status, 0, output)
        XCTAssertTrue(output.contains("syntax is ok"), output)
    }

    func testShippedConfigPasses() throws {
        var dir = URL(fileURLWithPath: #filePath)
        while dir.lastPathComponent != "Tests" { dir.deleteLastPathComponent() }
        let shipped = dir.deletingLastPathComponent().appendingPathComponent("etc/socketserverd/socketserverd.conf").path
        let (status, output) = try run(["-t", "-c", shipped])
        XCTAssertEqual(status, 0, output)
    }

    func testEveryErrorNamesFileAndLine() throws {
        let conf = directory + "/bad.conf"
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
        try FileManager.default.createDirectory(atPath: directory + "/conf.d", withIntermediateDirectories: true)
        writeConfig("[service c]\nlisten = tcp://127.0.0.1:7\nhandler = nope\n", to: directory + "/conf.d/extra.conf")
        let (status, output) = try run(["--check-config", "--config", conf])
        XCTAssertEqual(status, 1, output)
        for expected in ["bad.conf:2:", "bad.conf:6:", "bad.conf:8:", "bad.conf:12:", "extra.conf:3:", "wokers", "did you mean 'workers'"] {
            XCTAssertTrue(output.contains(expected), "missing \(expected) in:\n\(output)")
        }
        XCTAssertTrue(output.contains("test failed"), output)
    }

    func testMissingFileAndBadArguments() throws {
        let (status, output) = try run(["--check-config", "--config", directory + "/absent.conf"])
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
        let path = writeConfig("[service x]\nlisten = bogus\nhandler = echo\n", to: directory + "/broken.conf")
        let (status, output) = try run(["--config", path])
        XCTAssertEqual(status, 1)
        XCTAssertTrue(output.contains("broken.conf:2:") && output.contains("not starting"), output)
    }
}
