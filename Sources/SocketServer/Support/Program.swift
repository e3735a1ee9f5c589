// Running a server program as Python runs a script: a thrown error becomes one line on stderr
// and exit status 1, not a crash report. And writing a line to stderr.
#if canImport(Glibc)
import Glibc
#endif
import CSocketServerShims

/// Runs a program's body (Python's `if __name__ == "__main__":`) and exits: status 0 when it
/// returns, 1 when it throws, after one line on stderr naming the program and the error
/// (`tcp-upper: bind 127.0.0.1:9999: Address already in use (errno 98)`), where an error thrown
/// at top level would end the process with a crash report.
///
/// Standard output is line-buffered first, so what the program prints reaches a pipe or a log
/// line by line, as it does on a terminal (Python's `print(..., flush=True)`).
///
/// ```swift
/// import SocketServer
///
/// runMain {
///     let server = try TCPServer(("127.0.0.1", 9999), Upper.self)
///     try server.serveForever()
/// }
/// ```
public func runMain(_ body: () throws -> Void) -> Never {
    cssd_line_buffer_stdout()
    do {
        try body()
    } catch {
        fflush(nil)
        writeStandardError("\(programName): \(error)")
        exit(1)
    }
    exit(0)
}

/// The running program's file name (the last part of `argv[0]`).
var programName: String {
    let path = CommandLine.arguments.first ?? "program"
    return path.split(separator: "/").last.map(String.init) ?? path
}

/// Writes a line (`text`, with a newline added if it lacks one) to standard error without
/// buffering (safe in forked children); a failed write is dropped.
public func writeStandardError(_ text: String) {
    var bytes = Array(text.utf8)
    if bytes.last != UInt8(ascii: "\n") { bytes.append(UInt8(ascii: "\n")) }
    try? writeAll(2, bytes)
}
