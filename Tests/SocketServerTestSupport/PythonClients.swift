// Python clients for the tests: CPython's own socket module talking to the servers.
import Glibc
import XCTest

/// The Python interpreter tests run clients with, or a skip if there is none.
public func pythonInterpreter() throws -> String {
    for candidate in ["/usr/bin/python3", "/usr/local/bin/python3"] where access(candidate, X_OK) == 0 {
        return candidate
    }
    for directory in (getenv("PATH").map { String(cString: $0) } ?? "").split(separator: ":") {
        let candidate = "\(directory)/python3"
        if access(candidate, X_OK) == 0 { return candidate }
    }
    throw XCTSkip("python3 is not installed")
}

/// Runs `python3 -c script args…` in this process's environment, capturing its output; kills it
/// after `limit`.
public func runPython(_ script: String, _ arguments: [String], limit: Duration = .seconds(20)) throws -> ProcessOutput {
    try runProgram(try pythonInterpreter(), ["-c", script] + arguments, env: inheritedEnvironment, limit: limit)
}

/// Runs `python3 FILE args…` with `stdin` (a file; /dev/null by default) as its input.
public func runPythonFile(_ file: String, _ arguments: [String], stdin: String? = nil,
                          limit: Duration = .seconds(20)) throws -> ProcessOutput {
    try runProgram(try pythonInterpreter(), [file] + arguments, env: inheritedEnvironment, stdin: stdin, limit: limit)
}
