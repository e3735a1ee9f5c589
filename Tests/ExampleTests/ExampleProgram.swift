// One of the README's example programs (Sources/Examples/NAME), started from the build directory
// as its user would start it, with its output in files, and the Python clients beside it.
import Foundation
import SocketServer
import SocketServerTestSupport
import XCTest

/// A running example server: `port` is the one it printed (`… on HOST:PORT`) once it was bound.
final class ExampleProgram {
    let name: String
    let pid: pid_t
    let port: Int
    private let stdoutPath: String
    private let stderrPath: String
    private var exited = false

    /// Starts `program arguments…` (an example's name, or a path), its output in `directory`, and
    /// waits (bounded) for its "on HOST:PORT" line.
    init(_ program: String, _ arguments: [String] = ["0"], in directory: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let name = String(program.split(separator: "/").last ?? "")
        let (stdoutPath, stderrPath) = (directory + "/\(name).stdout", directory + "/\(name).stderr")
        let pid = try spawn(program.contains("/") ? program : ExampleProgram.path(program), arguments, env: ["PATH=/usr/bin:/bin"], stdout: stdoutPath, stderr: stderrPath)
        var found: Int? = nil
        _ = eventually(within: .seconds(10)) {
            found = Self.announcedPort(in: readText(stdoutPath))
            return found != nil || Self.hasExited(pid)
        }
        guard let found else {
            kill(-pid, SIGKILL)
            _ = exitCode(of: pid)
            XCTFail("\(name) did not say where it serves: \(readText(stdoutPath)) \(readText(stderrPath))", file: file, line: line)
            throw TestFailure.setup(name)
        }
        (self.name, self.pid, self.port, self.stdoutPath, self.stderrPath) = (name, pid, found, stdoutPath, stderrPath)
    }

    /// Whether `pid` has exited, without reaping it.
    static func hasExited(_ pid: pid_t) -> Bool {
        var info = siginfo_t()
        return waitid(P_PID, id_t(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info._sifields._sigchld.si_pid != 0
    }

    /// The built example, or a skip naming what is missing.
    static func path(_ name: String) throws -> String {
        let path = builtExecutable(named: name)
        guard FileManager.default.isExecutableFile(atPath: path) else { throw XCTSkip("\(name) is not built (swift build builds it)") }
        return path
    }

    /// The port of the first line ending in " on HOST:PORT".
    static func announcedPort(in output: String) -> Int? {
        for line in output.split(separator: "\n") {
            guard let on = line.range(of: " on ", options: .backwards), let colon = line.lastIndex(of: ":"),
                  colon > on.upperBound, let port = Int(line[line.index(after: colon)...]) else { continue }
            return port
        }
        return nil
    }

    var stdout: String { readText(stdoutPath) }
    var stderr: String { readText(stderrPath) }

    /// Ends the server (SIGTERM: what Ctrl-C or `kill` does to a Python server) and reaps it.
    func stop() {
        guard !exited else { return }
        exited = true
        kill(pid, SIGTERM)
        if exitCode(of: pid, within: .seconds(10)) == nil { XCTFail("\(name) outlived SIGTERM") }
    }

    deinit { stop() }
}

/// A Python client from Sources/Examples (`tcp-upper/client.py`), run to its end.
func runClient(_ client: String, _ arguments: [String], stdin: String? = nil) throws -> ProcessOutput {
    try runPythonFile(repositoryRoot + "/Sources/Examples/" + client, arguments, stdin: stdin)
}

/// A test of example programs: a temporary directory for their output and files, and (under a
/// sanitizer) no report from any program it started.
class ExampleTestCase: XCTestCase {
    var directory = ""

    override func setUpWithError() throws {
        directory = try makeTemporaryDirectory("ssd-examples")
    }

    override func tearDown() {
        removeTree(directory)
        for report in Sanitizers.takeReports() { XCTFail("a sanitizer report from an example program: \(report)") }
    }
}
