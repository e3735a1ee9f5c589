// Hostile input for upload's framing: random and mutated frame streams for the upload handler over
// a real connection (the inputs come from HeaderFuzz in FlatJSONFuzzTests.swift and SeededRandom).
import Foundation
import XCTest
import SocketServer
@testable import SocketServerHandlers
import SocketServerTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// The upload handler's framing (length, header, content; repeated) under random and mutated
/// streams, over real connections: every stream gets `OK` lines and at most one final `ERR`, the
/// server keeps serving, and no temporary or unexpected file is left.
final class UploadFramingFuzzTests: UploadTestCase {
    override func setUpWithError() throws {
        try super.setUpWithError()
        try start(maxSize: 4096, idleTimeout: .seconds(5))
    }

    static func lengthPrefix(_ length: Int32) -> [UInt8] {
        withUnsafeBytes(of: length.littleEndian) { Array($0) }
    }

    static let names = ["a.txt", "b", "é.bin", "space name", "x", ".hidden", "../up", "/abs", "a/b", "", "nul\u{0}",
                        "ctl\u{1B}", String(repeating: "n", count: 256), "ok-\u{1F600}", "..", "dots..x"]

    /// One frame: mostly well formed, sometimes with a hostile name, a wrong size, or a header
    /// from the JSON fuzzer; `valid` tells whether the server should store it.
    static func frame(_ rng: inout SeededRandom, index: Int) -> (bytes: [UInt8], valid: (name: String, size: Int)?) {
        let name = Int.random(in: 0..<3, using: &rng) == 0 ? names.randomElement(using: &rng)! : "f\(index % 7).dat"
        let content = (0..<Int.random(in: 0...300, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
        switch Int.random(in: 0..<10, using: &rng) {
        case 0...4:
            let header = Array("{\"cmd\":\"put\",\"filename\":\(jsonString(name)),\"filesize\":\(content.count)}".utf8)
            let valid = uploadNameProblem(name) == nil ? (name, content.count) : nil
            return (lengthPrefix(Int32(header.count)) + header + content, valid)
        case 5:  // declared size differs from what follows (a later frame's bytes become content)
            let size = [content.count + Int.random(in: 1...50, using: &rng), max(0, content.count - 1), 4097, -1, Int.max].randomElement(using: &rng)!
            let header = Array("{\"cmd\":\"put\",\"filename\":\"s.dat\",\"filesize\":\(size)}".utf8)
            return (lengthPrefix(Int32(header.count)) + header + content, nil)
        case 6:  // a header from the JSON fuzzer, honestly framed
            let header = Array(HeaderFuzz.input(index, &rng).prefix(65536))
            return (lengthPrefix(Int32(header.count)) + header + content, nil)
        case 7:  // a length that lies or is out of range
            let header = Array("{\"cmd\":\"put\",\"filename\":\"l.dat\",\"filesize\":0}".utf8)
            let length = [0, -1, Int32.min, Int32.max, 65537, Int32(header.count) + 7, Int32(header.count) - 3].randomElement(using: &rng)!
            return (lengthPrefix(length) + header, nil)
        case 8:  // other commands and types
            let header = ["{\"cmd\":\"get\",\"filename\":\"a\",\"filesize\":0}", "{\"cmd\":\"put\"}", "{\"cmd\":1}",
                          "{\"cmd\":\"put\",\"filename\":7,\"filesize\":0}", "{\"cmd\":\"put\",\"filename\":\"a\",\"filesize\":1.0}",
                          "{\"cmd\":\"put\",\"filename\":\"a\",\"filesize\":\"1\"}", "{\"cmd\":\"PUT\",\"filename\":\"a\",\"filesize\":0}"]
                .randomElement(using: &rng)!
            return (lengthPrefix(Int32(header.utf8.count)) + Array(header.utf8), nil)
        default:  // random bytes
            return (HeaderFuzz.randomBytes(&rng), nil)
        }
    }

    /// Sends `stream` in random pieces, half-closes, and reads the whole answer.
    func exchange(_ stream: [UInt8], _ rng: inout SeededRandom) throws -> String {
        let client = try connectClient(server.serverAddress)
        defer { client.close() }
        var rest = stream[...]
        while !rest.isEmpty {
            let piece = rest.prefix(Int.random(in: 1...max(1, rest.count), using: &rng))
            // The server stops reading after a refusal (and resets once it has closed): stop sending.
            guard (try? client.sendAll(Array(piece))) != nil else { break }
            rest = rest.dropFirst(piece.count)
        }
        try? client.shutdown(.write)
        var answer: [UInt8] = []
        while let chunk = try? client.recv(65536), !chunk.isEmpty { answer += chunk }
        return String(decoding: answer, as: UTF8.self)
    }

    func testTwoThousandRandomAndMutatedStreams() throws {
        var rng = SeededRandom(seed: 0x5EED_F1A7_0003)
        let start = ContinuousClock.now
        var stored = Set<String>()
        var outcomes = (ok: 0, refused: 0)
        for index in 0..<2000 {
            var stream: [UInt8] = []
            var expected: [String] = []  // the replies when every frame is valid
            var allValid = true
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                let (bytes, valid) = Self.frame(&rng, index: index)
                stream += bytes
                if allValid, let valid { expected.append("OK \(valid.name) \(valid.size)") } else { allValid = false }
            }
            // Mutate some streams as a whole: cut short, or a byte changed.
            switch Int.random(in: 0..<6, using: &rng) {
            case 0 where !stream.isEmpty:
                stream.removeSubrange(Int.random(in: 0..<stream.count, using: &rng)...)
                allValid = false
            case 1 where !stream.isEmpty:
                stream[Int.random(in: 0..<stream.count, using: &rng)] ^= 0xFF
                allValid = false
            default: break
            }
            let answer = try exchange(stream, &rng)
            let lines = answer.split(separator: "\n", omittingEmptySubsequences: false)
            XCTAssertEqual(lines.last, "", "stream \(index): the answer ends with a newline: \(answer.debugDescription)")
            let replies = lines.dropLast()
            for (position, reply) in replies.enumerated() {
                if reply.hasPrefix("OK ") {
                    outcomes.ok += 1
                    let name = String(reply.dropFirst(3).split(separator: " ").dropLast().joined(separator: " "))
                    XCTAssertNil(uploadNameProblem(name), "stream \(index): stored a bad name \(name.debugDescription)")
                    stored.insert(name)
                } else {
                    XCTAssertTrue(reply.hasPrefix("ERR "), "stream \(index): unexpected reply \(reply.debugDescription)")
                    XCTAssertEqual(position, replies.count - 1, "stream \(index): ERR is the last reply")
                    outcomes.refused += 1
                }
            }
            if allValid {
                XCTAssertEqual(replies.map(String.init), expected, "stream \(index): every valid frame is stored")
            }
            let leftovers = directoryEntries(directory).filter { $0.hasPrefix(".upload-") }
            XCTAssertEqual(leftovers, [], "stream \(index): temporary files left behind")
        }
        XCTAssertEqual(Set(directoryEntries(directory)), stored, "only the files reported OK exist")
        XCTAssertEqual(directoryEntries(root), ["files"], "nothing was written beside the upload directory")
        XCTAssertEqual(try streamCheck(), "OK after.txt 5\n", "the server still serves")
        XCTAssertGreaterThan(outcomes.ok, 300)
        XCTAssertGreaterThan(outcomes.refused, 300)
        let elapsed = ContinuousClock.now - start
        XCTAssertLessThan(elapsed, .seconds(180))
        print("upload framing fuzz: 2000 streams, \(outcomes.ok) files stored, \(outcomes.refused) refused, in \(elapsed)")
    }

    private func streamCheck() throws -> String {
        var rng = SeededRandom(seed: 1)
        return try exchange(putFrame("after.txt", Array("after".utf8)), &rng)
    }
}
