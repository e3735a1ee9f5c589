// upload: the happy path, the Python client of the tutorials, and what a stored file looks like (mode, durability,
// a failed write, a connection lost mid-file). The refusals are in UploadRefusalTests.swift.
import Foundation
import XCTest
import SocketServer
import SocketServerHandlers
import SocketServerTestSupport

#if canImport(Glibc)
import Glibc
#endif

final class UploadTests: UploadTestCase {
    // MARK: Happy paths

    func testTwoFilesOnOneConnection() throws {
        try start()
        let first = Array("hello, upload\n".utf8)
        let second = patternBytes(1 << 20)
        let client = try connectClient(server.serverAddress)
        try client.sendAll(putFrame("a.txt", first))
        XCTAssertEqual(try readLine(client), "OK a.txt \(first.count)\n")
        try client.sendAll(putFrame("data file.bin", second))
        XCTAssertEqual(try readLine(client), "OK data file.bin \(second.count)\n")
        try client.shutdown(.write)
        XCTAssertEqual(try readAll(client), [])
        XCTAssertEqual(directoryEntries(directory), ["a.txt", "data file.bin"])
        XCTAssertEqual(contents("a.txt"), first)
        XCTAssertTrue(contents("data file.bin") == second)
        XCTAssertEqual(errorLogs, [])
        XCTAssertEqual(server.state.errors, [])
        XCTAssertEqual(server.state.logs.filter { $0.level == .info }.count, 2)
    }

    func testPipelinedFramesEmptyFileAndReplacement() throws {
        try start()
        // Everything in one send: the handler must split frames out of one buffer.
        let frames = putFrame("x.txt", Array("old".utf8)) + putFrame("empty", []) + putFrame("x.txt", Array("new!".utf8))
        XCTAssertEqual(try exchange(frames), "OK x.txt 3\nOK empty 0\nOK x.txt 4\n")
        XCTAssertEqual(directoryEntries(directory), ["empty", "x.txt"])
        XCTAssertEqual(contents("x.txt"), Array("new!".utf8))
        XCTAssertEqual(contents("empty"), [])
    }

    func testUnicodeFilenameAndEscapedHeader() throws {
        try start()
        let header = #"{"cmd":"put","filename":"h\u00e9llo-\ud83d\ude00.txt","filesize":2}"#
        XCTAssertEqual(try exchange(uploadFrame(header: Array(header.utf8), content: [1, 2])), "OK héllo-😀.txt 2\n")
        XCTAssertEqual(directoryEntries(directory), ["héllo-😀.txt"])
    }

    func testFileExactlyAtMaxSize() throws {
        try start(maxSize: 1000)
        XCTAssertEqual(try exchange(putFrame("limit", patternBytes(1000))), "OK limit 1000\n")
    }

    func testPythonClientAsInTheTutorial() throws {
        try start()
        let script = """
        import json, socket, struct, sys
        port = int(sys.argv[1])
        files = [("report.txt", b"line 1\\nline 2\\n"), ("blob.bin", bytes(range(256)) * 4000), ("n\\u00e4me \\U0001F600.txt", b"x")]
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        for name, data in files:
            head = json.dumps({"cmd": "put", "filename": name, "filesize": len(data)}).encode("utf-8")
            s.send(struct.pack("<i", len(head)))
            s.send(head)
            s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        sys.stdout.write(s.makefile("rb").read().decode("utf-8"))  # every status line, to the end
        """
        let output = try runPython(script, arguments: [String(port)])
        XCTAssertEqual(output, "OK report.txt 14\nOK blob.bin 1024000\nOK näme 😀.txt 1\n")
        XCTAssertEqual(directoryEntries(directory), ["blob.bin", "näme 😀.txt", "report.txt"])
        XCTAssertEqual(contents("report.txt"), Array("line 1\nline 2\n".utf8))
        XCTAssertEqual(contents("blob.bin"), Array(repeating: (0...255).map { UInt8($0) }, count: 4000).flatMap { $0 })
    }

    func testPythonClientThatNeverReads() throws {
        // The tutorial's client sends and closes without reading the status lines.
        try start()
        let script = """
        import json, socket, struct, sys
        s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
        data = b"seed" * 1000
        head = json.dumps({"cmd": "put", "filename": "seed.txt", "filesize": len(data)}).encode("utf-8")
        s.send(struct.pack("i", len(head)))
        s.send(head)
        s.sendall(data)
        s.close()
        """
        _ = try runPython(script, arguments: [String(port)])
        eventually(within: .seconds(2), every: .milliseconds(10)) { directoryEntries(directory) == ["seed.txt"] }
        XCTAssertEqual(directoryEntries(directory), ["seed.txt"])
        XCTAssertEqual(contents("seed.txt"), Array(String(repeating: "seed", count: 1000).utf8))
    }

    private func runPython(_ script: String, arguments: [String]) throws -> String {
        let result = try runProgram("/usr/bin/env", ["python3", "-c", script] + arguments, env: inheritedEnvironment)
        XCTAssertEqual(result.status, 0, "python3 failed: \(result.stderr)")
        return result.stdout
    }

    // MARK: Storage

    func testWriteErrorIsReportedAndLeavesNoFile() throws {
        // RLIMIT_FSIZE makes write(2) fail with EFBIG, as a full disk fails with ENOSPC.
        try start()
        let fsizeLimit = __rlimit_resource_t(RLIMIT_FSIZE.rawValue)
        var saved = rlimit()
        XCTAssertEqual(getrlimit(fsizeLimit, &saved), 0)
        let previousHandler = signal(SIGXFSZ, SIG_IGN)
        var limited = saved
        limited.rlim_cur = 64 * 1024
        XCTAssertEqual(setrlimit(fsizeLimit, &limited), 0)
        defer {
            var restore = saved
            setrlimit(fsizeLimit, &restore)
            signal(SIGXFSZ, previousHandler)
        }
        try assertRefused(putFrame("large.bin", patternBytes(256 * 1024)), "write failed: File too large")
        XCTAssertEqual(directoryEntries(directory), [])
    }

    func testIdleTimeoutMidFileRemovesTemporaryFile() throws {
        try start(idleTimeout: .milliseconds(300))
        let client = try connectClient(server.serverAddress)
        let frame = putFrame("slow.bin", patternBytes(1000))
        try client.sendAll(Array(frame.prefix(frame.count - 500)))
        // While the body is still arriving the file is open in the server (this process)...
        let open = pollValue(within: .seconds(1)) { () -> [String]? in
            let open = filesOpen(under: directory)
            return open.isEmpty ? nil : open
        } ?? []
        XCTAssertEqual(open.count, 1, "the upload's file is not open: \(open)")
        // ...but has no name in the directory, so a worker killed now (SIGKILL from the daemon's
        // request timeout, `_exit` on a fast stop) leaves nothing behind: it is an O_TMPFILE inode.
        XCTAssertEqual(directoryEntries(directory), [], "a named temporary file exists while the upload is in progress")
        // The server gives up on the silent client; still nothing in the directory.
        XCTAssertEqual(String(decoding: try readAll(client), as: UTF8.self), "ERR timed out\n")
        eventually(within: .seconds(1), every: .milliseconds(10)) { !server.state.errors.isEmpty }
        XCTAssertEqual(directoryEntries(directory), [])
        XCTAssertTrue(server.state.errors.first?.contains("timed out") ?? false, "\(server.state.errors)")
        eventually(within: .seconds(1), every: .milliseconds(10)) { filesOpen(under: directory).isEmpty }
        XCTAssertEqual(filesOpen(under: directory), [], "the upload's file was not closed")
    }

    func testStoredFilesHaveTheUsualModeAndNoTemporaryName() throws {
        // The anonymous file is linked as the target, or (over an existing file) linked under a
        // temporary name and renamed over it: either way the result is an ordinary 0644 file.
        try start()
        XCTAssertEqual(try exchange(putFrame("new.txt", Array("one".utf8)) + putFrame("new.txt", Array("two".utf8))),
                       "OK new.txt 3\nOK new.txt 3\n")
        XCTAssertEqual(directoryEntries(directory), ["new.txt"])
        XCTAssertEqual(contents("new.txt"), Array("two".utf8))
        var info = stat()
        XCTAssertEqual(stat(directory + "/new.txt", &info), 0)
        XCTAssertEqual(info.st_mode & 0o7777, 0o644 & ~processUmask())
        XCTAssertEqual(info.st_nlink, 1)
    }

    /// The files this process has open whose path is inside `directory` (from /proc/self/fd).
    private func filesOpen(under directory: String) -> [String] {
        let prefix = directory + "/"
        return openDescriptors().values.filter { $0.hasPrefix(prefix) }.sorted()
    }

    /// The umask, from /proc/self/status (reading it with umask(2) would change it meanwhile).
    private func processUmask() -> mode_t {
        mode_t(processStatus(getpid())["Umask"].flatMap { UInt32($0, radix: 8) } ?? 0o022)
    }
}
