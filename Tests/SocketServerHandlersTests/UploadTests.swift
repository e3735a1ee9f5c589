// upload: the happy path, the Python client of the tutorials, and every hostile case.
import Foundation
import XCTest
import SocketServer
import SocketServerHandlers

#if canImport(Glibc)
import Glibc
#endif

final class UploadTests: XCTestCase {
    private var root = ""
    private var directory = ""
    private var serving: Serving?
    private var server: HostStreamServer!

    override func setUpWithError() throws {
        root = try makeTemporaryDirectory()
        directory = root + "/files"
        XCTAssertEqual(mkdir(directory, 0o755), 0)
    }

    override func tearDown() {
        serving?.stop()
        serving = nil
        removeTemporaryDirectory(root)
    }

    private func start(maxSize: Int? = nil, idleTimeout: Duration? = .seconds(10), options extra: [String: String]? = nil) throws {
        var options = ["directory": directory]
        if let maxSize { options["max_size"] = String(maxSize) }
        server = try HostStreamServer(.inet(host: "127.0.0.1", port: 0), UploadStreamHandler.self,
                                      options: extra ?? options, idleTimeout: idleTimeout)
        serving = try Serving(server)
    }

    private var port: Int { Int(server.serverAddress.port!) }

    /// Sends `bytes`, half-closes, and returns everything the server answered.
    private func exchange(_ bytes: [UInt8]) throws -> String {
        let client = try connectClient(server.serverAddress)
        try client.sendAll(bytes)
        try client.shutdown(.write)
        return String(decoding: try readToEnd(client), as: UTF8.self)
    }

    private func contents(_ name: String) -> [UInt8]? {
        FileManager.default.contents(atPath: directory + "/" + name).map { [UInt8]($0) }
    }

    private var errorLogs: [String] { server.state.logs.filter { $0.level == .error }.map(\.message) }

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
        XCTAssertEqual(try readToEnd(client), [])
        XCTAssertEqual(listing(directory), ["a.txt", "data file.bin"])
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
        XCTAssertEqual(listing(directory), ["empty", "x.txt"])
        XCTAssertEqual(contents("x.txt"), Array("new!".utf8))
        XCTAssertEqual(contents("empty"), [])
    }

    func testUnicodeFilenameAndEscapedHeader() throws {
        try start()
        let header = #"{"cmd":"put","filename":"h\u00e9llo-\ud83d\ude00.txt","filesize":2}"#
        XCTAssertEqual(try exchange(uploadFrame(header: Array(header.utf8), content: [1, 2])), "OK héllo-😀.txt 2\n")
        XCTAssertEqual(listing(directory), ["héllo-😀.txt"])
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
        reply = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            reply += chunk
        sys.stdout.write(reply.decode("utf-8"))
        """
        let output = try runPython(script, arguments: [String(port)])
        XCTAssertEqual(output, "OK report.txt 14\nOK blob.bin 1024000\nOK näme 😀.txt 1\n")
        XCTAssertEqual(listing(directory), ["blob.bin", "näme 😀.txt", "report.txt"])
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
        for _ in 0..<200 where listing(directory) != ["seed.txt"] { usleep(10_000) }
        XCTAssertEqual(listing(directory), ["seed.txt"])
        XCTAssertEqual(contents("seed.txt"), Array(String(repeating: "seed", count: 1000).utf8))
    }

    private func runPython(_ script: String, arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script] + arguments
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, "python3 failed")
        return String(decoding: data, as: UTF8.self)
    }

    // MARK: Hostile cases: ERR, connection closed, nothing left in the directory

    /// Sends `bytes` on a fresh connection and checks: one `ERR` line mentioning `reason`, the
    /// connection closed, the directory unchanged, the refusal logged.
    private func assertRefused(_ bytes: [UInt8], _ reason: String, okLines: Int = 0,
                               file: StaticString = #filePath, line: UInt = #line) throws {
        let before = listing(directory)
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
            XCTAssertEqual(listing(directory), before, "directory changed", file: file, line: line)
        }
        XCTAssertFalse(listing(directory).contains { $0.hasPrefix(".upload-") }, "temporary file left", file: file, line: line)
        for _ in 0..<100 where errorLogs.count == logged { usleep(10_000) }
        XCTAssertEqual(errorLogs.count, logged + 1, "refusal not logged", file: file, line: line)
    }

    func testHostileFilenamesAreRefused() throws {
        try start()
        let names: [(String, String)] = [
            ("../evil.txt", "'/'"),
            ("..", "'..'"),
            ("a..b", "'..'"),
            ("sub/file.txt", "'/'"),
            ("/etc/passwd", "absolute"),
            ("/tmp/evil", "absolute"),
            ("", "empty filename"),
            (".hidden", "starts with '.'"),
            (".", "starts with '.'"),
            ("a\u{0}b", "NUL"),
            ("new\nline", "control character"),
            ("tab\there", "control character"),
            ("del\u{7F}", "control character"),
            ("c1\u{85}", "control character"),
            (String(repeating: "n", count: 256), "longer than 255"),
        ]
        for (name, reason) in names {
            try assertRefused(putFrame(name, Array("payload".utf8)), reason)
        }
        XCTAssertEqual(listing(directory), [])
        XCTAssertEqual(listing(root), ["files"], "nothing written beside the upload directory")
    }

    func testSlashHiddenInAGraphemeClusterIsRefused() throws {
        // "/" followed by a combining mark is one Character that is not "/", but its first UTF-8
        // byte is 0x2F, which the kernel takes as a separator: without a byte-level check these
        // names were absolute, or went into a subdirectory, or through a symlinked one.
        try start()
        let outside = root + "/outside"
        XCTAssertEqual(mkdir(outside, 0o755), 0)
        XCTAssertEqual(mkdir(directory + "/sub", 0o755), 0)
        XCTAssertEqual(mkdir(directory + "/e\u{0301}\u{0323}", 0o755), 0)
        XCTAssertEqual(symlink(outside, directory + "/link"), 0)
        // In the root directory: unique to this run, and removed below if the check ever fails.
        let absolute = "/\u{0338}ssd-upload-test-\(getpid())"
        defer { unlink(absolute) }
        let names: [(String, String)] = [
            (absolute, "absolute"),
            ("sub/\u{0338}x", "'/'"),
            ("link/\u{0338}x", "'/'"),
            // The 0x2F byte after other combining sequences, and with more marks after it.
            ("e\u{0301}\u{0323}/\u{0338}\u{0301}\u{20DD}x", "'/'"),
            ("sub/\u{0338}\u{0338}/\u{0338}y", "'/'"),
            // The leading-dot rule, bypassed the same way.
            (".\u{0338}hidden", "starts with '.'"),
        ]
        for (name, reason) in names {
            XCTAssertEqual(name.contains("/"), false, "\(name.debugDescription) has a plain '/' Character")
            try assertRefused(putFrame(name, Array("payload".utf8)), reason)
        }
        XCTAssertEqual(Set(listing(directory)), ["e\u{0301}\u{0323}", "link", "sub"])
        XCTAssertEqual(listing(directory + "/sub"), [])
        XCTAssertEqual(listing(directory + "/e\u{0301}\u{0323}"), [])
        XCTAssertEqual(listing(outside), [], "nothing written through the symlinked directory")
        XCTAssertEqual(listing(root), ["files", "outside"], "nothing written beside the upload directory")
        XCTAssertEqual(access(absolute, F_OK), -1, "nothing written in /")
    }

    func testSymlinkTargetIsRefusedAndUntouched() throws {
        try start()
        let outside = root + "/outside.txt"
        XCTAssertTrue(FileManager.default.createFile(atPath: outside, contents: Data("keep".utf8)))
        XCTAssertEqual(symlink(outside, directory + "/link.txt"), 0)
        XCTAssertEqual(symlink(root + "/missing", directory + "/dangling"), 0)
        try assertRefused(putFrame("link.txt", Array("overwrite".utf8)), "symlink")
        try assertRefused(putFrame("dangling", Array("create".utf8)), "symlink")
        XCTAssertEqual(FileManager.default.contents(atPath: outside), Data("keep".utf8))
        XCTAssertFalse(FileManager.default.fileExists(atPath: root + "/missing"))
        XCTAssertEqual(listing(directory), ["dangling", "link.txt"])
    }

    func testDirectoryTargetIsRefused() throws {
        try start()
        XCTAssertEqual(mkdir(directory + "/sub", 0o755), 0)
        try assertRefused(putFrame("sub", Array("x".utf8)), "not a regular file")
    }

    func testSizesAreChecked() throws {
        try start(maxSize: 1000)
        try assertRefused(putFrame("big", patternBytes(1001)), "over the limit of 1000")
        try assertRefused(putFrame("neg", [], filesize: "-1"), "non-negative integer")
        try assertRefused(putFrame("frac", [1], filesize: "1.5"), "non-negative integer")
        try assertRefused(putFrame("exp", [1], filesize: "1e2"), "non-negative integer")
        try assertRefused(putFrame("str", [1], filesize: "\"1\""), "non-negative integer")
        try assertRefused(putFrame("bool", [1], filesize: "true"), "non-negative integer")
        try assertRefused(putFrame("null", [1], filesize: "null"), "non-negative integer")
        try assertRefused(putFrame("huge", [1], filesize: "99999999999999999999999"), "non-negative integer")
    }

    func testRefusalReachesAClientStillSending() throws {
        // The client goes on sending a refused 600 KB file before it reads: the server drains
        // instead of resetting the connection, so the ERR line arrives.
        try start(maxSize: 1000)
        let client = try connectClient(server.serverAddress)
        let frame = putFrame("big", patternBytes(600_000))
        let writer = try PosixThread.start { [client] in
            try? client.sendAll(frame)
            try? client.shutdown(.write)
        }
        defer { writer.join() }
        XCTAssertEqual(String(decoding: try readToEnd(client), as: UTF8.self), "ERR filesize 600000 is over the limit of 1000 bytes\n")
        XCTAssertEqual(listing(directory), [])
    }

    func testDefaultMaxSizeIsEnforced() throws {
        try start()  // no max_size key: 104857600
        try assertRefused(putFrame("big", [], filesize: "104857601"), "over the limit of 104857600")
    }

    func testCommandsAndHeadersAreChecked() throws {
        try start()
        func header(_ text: String) -> [UInt8] { uploadFrame(header: Array(text.utf8)) }
        try assertRefused(header(#"{"cmd":"get","filename":"a","filesize":1}"#), "unknown cmd \"get\"")
        try assertRefused(header(#"{"cmd":1,"filename":"a","filesize":1}"#), "unknown cmd")
        try assertRefused(header(#"{"filename":"a","filesize":1}"#), "missing cmd")
        try assertRefused(header(#"{"cmd":"put","filesize":1}"#), "missing filename")
        try assertRefused(header(#"{"cmd":"put","filename":7,"filesize":1}"#), "filename must be a string")
        try assertRefused(header(#"{"cmd":"put","filename":"a"}"#), "missing filesize")
        try assertRefused(header(#"{"cmd":"put","filename":"a","filesize":1"#), "malformed header")
        try assertRefused(header(#"{"cmd":"put","filename":"a","filesize":1,}"#), "malformed header")
        try assertRefused(header(#"{"cmd":"put","filename":"a","filename":"b","filesize":1}"#), "duplicate key")
        try assertRefused(header("not json at all"), "malformed header")
        try assertRefused(header(#"{"cmd":"put","filename":"\ud800","filesize":1}"#), "surrogate")
        try assertRefused(uploadFrame(header: [0x7B, 0x22, 0xFF, 0x22, 0x3A, 0x31, 0x7D]), "invalid UTF-8")
    }

    func testHeaderLengthsAreChecked() throws {
        try start()
        try assertRefused([0, 0, 0, 0], "out of range")
        try assertRefused([0xFF, 0xFF, 0xFF, 0xFF], "header length -1")
        try assertRefused([0x01, 0x00, 0x01, 0x00], "header length 65537")
        try assertRefused([0x00, 0x00, 0x00, 0x80], "out of range")
        // The limit itself is accepted (then refused for its content).
        let padded = Array(#"{"cmd":"put","filename":"a","filesize":0}"#.utf8)
        let exactly = padded + Array(repeating: UInt8(ascii: " "), count: 65536 - padded.count)
        XCTAssertEqual(try exchange(uploadFrame(header: exactly)), "OK a 0\n")
    }

    func testConnectionEndingEarlyLeavesNoFile() throws {
        try start()
        try assertRefused([0x10, 0x00], "inside the header length")
        try assertRefused(Array(putFrame("a", []).prefix(10)), "inside the header")
        let frame = putFrame("partial.bin", patternBytes(5000))
        try assertRefused(Array(frame.prefix(frame.count - 1000)), "after 4000 of 5000 bytes")
        XCTAssertEqual(listing(directory), [])
    }

    func testGoodFileThenRefusalOnTheSameConnection() throws {
        try start()
        try assertRefused(putFrame("good.txt", Array("fine".utf8)) + putFrame("../bad", Array("no".utf8)), "'/'", okLines: 1)
        XCTAssertEqual(listing(directory), ["good.txt"])
    }

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
        XCTAssertEqual(listing(directory), [])
    }

    func testIdleTimeoutMidFileRemovesTemporaryFile() throws {
        try start(idleTimeout: .milliseconds(300))
        let client = try connectClient(server.serverAddress)
        let frame = putFrame("slow.bin", patternBytes(1000))
        try client.sendAll(Array(frame.prefix(frame.count - 500)))
        // While the body is still arriving the file is open in the server (this process)...
        var open: [String] = []
        for _ in 0..<200 where open.isEmpty {
            open = filesOpen(under: directory)
            if open.isEmpty { usleep(5_000) }
        }
        XCTAssertEqual(open.count, 1, "the upload's file is not open: \(open)")
        // ...but has no name in the directory, so a worker killed now (SIGKILL from the daemon's
        // request timeout, `_exit` on a fast stop) leaves nothing behind: it is an O_TMPFILE inode.
        XCTAssertEqual(listing(directory), [], "a named temporary file exists while the upload is in progress")
        // The server gives up on the silent client; still nothing in the directory.
        XCTAssertEqual(String(decoding: try readToEnd(client), as: UTF8.self), "ERR timed out\n")
        for _ in 0..<100 where server.state.errors.isEmpty { usleep(10_000) }
        XCTAssertEqual(listing(directory), [])
        XCTAssertTrue(server.state.errors.first?.contains("timed out") ?? false, "\(server.state.errors)")
        for _ in 0..<100 where !filesOpen(under: directory).isEmpty { usleep(10_000) }
        XCTAssertEqual(filesOpen(under: directory), [], "the upload's file was not closed")
    }

    func testStoredFilesHaveTheUsualModeAndNoTemporaryName() throws {
        // The anonymous file is linked as the target, or (over an existing file) linked under a
        // temporary name and renamed over it: either way the result is an ordinary 0644 file.
        try start()
        XCTAssertEqual(try exchange(putFrame("new.txt", Array("one".utf8)) + putFrame("new.txt", Array("two".utf8))),
                       "OK new.txt 3\nOK new.txt 3\n")
        XCTAssertEqual(listing(directory), ["new.txt"])
        XCTAssertEqual(contents("new.txt"), Array("two".utf8))
        var info = stat()
        XCTAssertEqual(stat(directory + "/new.txt", &info), 0)
        XCTAssertEqual(info.st_mode & 0o7777, 0o644 & ~processUmask())
        XCTAssertEqual(info.st_nlink, 1)
    }

    /// The files this process has open whose path is inside `directory` (from /proc/self/fd).
    private func filesOpen(under directory: String) -> [String] {
        let prefix = directory + "/"
        return listing("/proc/self/fd").compactMap { entry in
            var target = [CChar](repeating: 0, count: 4096)
            let count = readlink("/proc/self/fd/" + entry, &target, target.count - 1)
            guard count > 0 else { return nil }
            let path = String(decoding: target[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            return path.hasPrefix(prefix) ? path : nil
        }
    }

    /// The umask, from /proc/self/status (reading it with umask(2) would change it meanwhile).
    private func processUmask() -> mode_t {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("Umask:") } ?? "Umask: 0022"
        return mode_t(line.split(separator: "\t").last.flatMap { UInt32($0.trimmingCharacters(in: .whitespaces), radix: 8) } ?? 0o022)
    }

    func testMissingDirectoryConfiguration() throws {
        try start(options: [:])
        try assertRefused(putFrame("a", [1]), "no upload directory")
        serving?.stop()
        serving = nil
        try start(options: ["directory": root + "/gone"])
        try assertRefused(putFrame("a", [1]), "cannot open upload directory")
    }
}
