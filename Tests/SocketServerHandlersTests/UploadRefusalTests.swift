// upload refusals: hostile names, symlinks, sizes, malformed commands and headers, a missing
// directory; each ends with ERR, a closed connection and nothing left in the directory.
import Foundation
import XCTest
import SocketServer
import SocketServerHandlers
import SocketServerTestSupport

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
        XCTAssertEqual(directoryEntries(directory), [])
        XCTAssertEqual(directoryEntries(root), ["files"], "nothing written beside the upload directory")
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
        XCTAssertEqual(Set(directoryEntries(directory)), ["e\u{0301}\u{0323}", "link", "sub"])
        XCTAssertEqual(directoryEntries(directory + "/sub"), [])
        XCTAssertEqual(directoryEntries(directory + "/e\u{0301}\u{0323}"), [])
        XCTAssertEqual(directoryEntries(outside), [], "nothing written through the symlinked directory")
        XCTAssertEqual(directoryEntries(root), ["files", "outside"], "nothing written beside the upload directory")
        XCTAssertEqual(access(absolute, F_OK), -1, "nothing written in /")
    }

    func testInvisibleFormatCharactersAreRefused() throws {
        // A right-to-left override makes "evil\u{202E}txt.exe" show as "evilexe.txt"; the other
        // bidirectional controls and the invisible characters (Unicode's format characters, Cf)
        // make a name show as another one. Each is refused, wherever it is in the name.
        try start()
        let scalars: [UInt32] = [
            0x202E, 0x202A, 0x202B, 0x202C, 0x202D,  // embeddings and overrides
            0x2066, 0x2067, 0x2068, 0x2069,  // isolates
            0x200E, 0x200F, 0x061C,  // left-to-right, right-to-left and Arabic letter marks
            0x200B, 0x200C, 0x200D, 0x2060, 0x2061, 0x2062, 0x2063, 0x2064, 0xFEFF,  // zero-width
            0x00AD, 0x180E, 0xFFF9, 0xE0001, 0xE0041,  // soft hyphen, Mongolian separator, annotation, tags
            0x2028, 0x2029,  // line and paragraph separators
        ]
        for value in scalars {
            let scalar = try XCTUnwrap(Unicode.Scalar(value))
            let code = String(format: "U+%04X", value)
            for name in ["evil\(scalar)txt.exe", "\(scalar)name", "name\(scalar)"] {
                try assertRefused(putFrame(name, Array("payload".utf8)), "invisible format character (\(code))")
            }
        }
        XCTAssertEqual(directoryEntries(directory), [])
        // Right-to-left scripts themselves, and other non-ASCII names, are still accepted.
        for name in ["שלום.txt", "ملف.txt", "日本語.txt", "re\u{0301}sume\u{0301}.pdf"] {
            XCTAssertEqual(try exchange(putFrame(name, [1])), "OK \(name) 1\n")
        }
    }

    func testClientTextInAReasonShowsNoFormatCharacters() throws {
        // A reason that quotes the client (an unknown cmd) could carry an override into the ERR
        // line and the log: it is shown as "?", as control characters are.
        try start()
        let header = #"{"cmd":"\u202Eteg\u200B","filename":"a","filesize":1}"#
        try assertRefused(uploadFrame(header: Array(header.utf8), content: [1]), #"unknown cmd "?teg?""#)
        let logged = try XCTUnwrap(errorLogs.last)
        XCTAssertTrue(logged.contains(#"unknown cmd "?teg?""#), logged)
        XCTAssertFalse(logged.unicodeScalars.contains { $0.properties.generalCategory == .format }, logged)
    }

    func testRefusalsAreReportedAsTheClientsOrTheServersProblem() throws {
        // The daemon rate-limits the two kinds apart: a flood of bad requests does not hide a
        // failure on the server's side.
        try start(options: ["directory": root + "/gone"])
        try assertRefused(putFrame("../a", [1]), "'/'")
        try assertRefused(putFrame("a", [1]), "cannot open upload directory")
        XCTAssertEqual(server.state.problems.map(\.problem), [.badRequest, .failed])
        XCTAssertTrue(server.state.problems.allSatisfy { $0.message.contains("upload refused: ") }, "\(server.state.problems)")
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
        XCTAssertEqual(directoryEntries(directory), ["dangling", "link.txt"])
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
        XCTAssertEqual(String(decoding: try readAll(client), as: UTF8.self), "ERR filesize 600000 is over the limit of 1000 bytes\n")
        XCTAssertEqual(directoryEntries(directory), [])
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
        XCTAssertEqual(directoryEntries(directory), [])
    }

    func testGoodFileThenRefusalOnTheSameConnection() throws {
        try start()
        try assertRefused(putFrame("good.txt", Array("fine".utf8)) + putFrame("../bad", Array("no".utf8)), "'/'", okLines: 1)
        XCTAssertEqual(directoryEntries(directory), ["good.txt"])
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
