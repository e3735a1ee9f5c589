// What the upload tests share: a temporary directory, an upload server on it, and the checks.
import Foundation
import XCTest
import SocketServer
import SocketServerHandlers
import SocketServerTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// A temporary upload directory (`directory`, inside `root`) and, once `start` ran, an upload
/// server on it; torn down after each test.
class UploadTestCase: XCTestCase {
    var root = ""
    var directory = ""
    var serving: Serving?
    var server: HostStreamServer!

    override func setUpWithError() throws {
        root = try makeTemporaryDirectory()
        directory = root + "/files"
        XCTAssertEqual(mkdir(directory, 0o755), 0)
    }

    override func tearDown() {
        serving?.stop()
        serving = nil
        removeTree(root)
    }

    func start(maxSize: Int? = nil, idleTimeout: Duration? = .seconds(10), options extra: [String: String]? = nil) throws {
        var options = ["directory": directory]
        if let maxSize { options["max_size"] = String(maxSize) }
        server = try HostStreamServer(.inet(host: "127.0.0.1", port: 0), UploadStreamHandler.self,
                                      options: extra ?? options, socketTimeout: idleTimeout)
        serving = try Serving(server)
    }

    var port: Int { Int(server.serverAddress.port!) }

    /// Sends `bytes`, half-closes, and returns everything the server answered.
    func exchange(_ bytes: [UInt8]) throws -> String {
        let client = try connectClient(server.serverAddress)
        try client.sendAll(bytes)
        try client.shutdown(.write)
        return String(decoding: try readAll(client), as: UTF8.self)
    }

    func contents(_ name: String) -> [UInt8]? {
        FileManager.default.contents(atPath: directory + "/" + name).map { [UInt8]($0) }
    }

    var errorLogs: [String] { server.state.logs.filter { $0.level == .error }.map(\.message) }

    /// Sends `bytes` on a fresh connection and checks: one `ERR` line mentioning `reason`, the
    /// connection closed, the directory unchanged, the refusal logged.
    func assertRefused(_ bytes: [UInt8], _ reason: String, okLines: Int = 0,
                               file: StaticString = #filePath, line: UInt = #line) throws {
        let before = directoryEntries(directory)
        let logged = errorLogs.count
        let reply = try exchange(bytes)
        let lines = reply.split(separator: "\n", omittingEmptySubsequences: false)
        XCTAssertEqual(lines.count, okLines + 2, "reply \(reply.debugDescription)", file: file, line: line)
        XCTAssertTrue(lines.dropLast().prefix(okLines).allSatisfy { $0.hasPrefix("OK ") }, reply, file: file, line: line)
        let err = lines.count >= 2 ? String(lines[lines.count - 2]) : ""
        XCTAssertTrue(err.hasPrefix("ERR "), "reply \(reply.debugDescription)", file: file, line: line)
        XCTAssertTrue(err.contains(reason), "\(err.debugDescription) does not mention \(reason.debugDescription)", file: file, line: line)
        XCTAssertFalse(err.unicodeScalars.contains { $0.value < 0x20 }, "control character in \(err.debugDescription)", file: file, line: line)
        XCTAssertEqual(lines.last, "", file: file, line: line)
        if okLines == 0 {
            XCTAssertEqual(directoryEntries(directory), before, "directory changed", file: file, line: line)
        }
        XCTAssertFalse(directoryEntries(directory).contains { $0.hasPrefix(".upload-") }, "temporary file left", file: file, line: line)
        eventually(within: .seconds(1), every: .milliseconds(10)) { errorLogs.count != logged }
        XCTAssertEqual(errorLogs.count, logged + 1, "refusal not logged", file: file, line: line)
    }
}
