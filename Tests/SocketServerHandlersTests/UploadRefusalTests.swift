// upload refusals: hostile names, symlinks, sizes, malformed commands and headers, a missing
// directory; each ends with ERR, a closed connection and nothing left in the directory.
import Foundation
import XCTest
import SocketServer
import SocketServerHandlers

#if canImport(Glibc)
import Glibc
#endif

final class UploadRefusalTests: UploadTestCase {
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

    func testMissingDirectoryConfiguration() throws {
        try start(options: [:])
        try assertRefused(putFrame("a", [1]), "no upload directory")
        serving?.stop()
        serving = nil
        try start(options: ["directory": root + "/gone"])
        try assertRefused(putFrame("a", [1]), "cannot open upload directory")
    }
}
