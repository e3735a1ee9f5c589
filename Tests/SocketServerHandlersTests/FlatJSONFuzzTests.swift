// Hostile input for upload's header parser: seeded random and mutated headers for
// FlatJSON.parseObject. Every run fuzzes the same inputs; an input that ever crashed or misbehaved
// is kept in `testRegressions`. The generators here also feed UploadFramingFuzzTests.
import Foundation
import XCTest
import SocketServer
@testable import SocketServerHandlers
import SocketServerTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// Inputs for a JSON header parser: random bytes, token soup, and mutations of valid headers.
enum HeaderFuzz {
    static let validHeaders: [String] = [
        #"{"cmd":"put","filename":"a.txt","filesize":123}"#,
        #"{"cmd": "put", "filename": "r\u00e9sum\u00e9 \ud83d\ude00.txt", "filesize": 0}"#,
        " {\n\t\"filesize\" : 9007199254740993 ,\r\n \"cmd\":\"put\", \"filename\":\"x\\\"y\\\\z\\/w\\b\\f\\n\\r\\t\"} ",
        #"{"a":true,"b":false,"c":null,"d":-0.5e-3,"e":1E+2,"f":"","g":"\u0000"}"#,
        "{}",
        #"{"filename":"日本語.bin","cmd":"put","filesize":65536}"#,
    ]

    /// Pieces of JSON, valid and broken: the parser should meet each in many contexts.
    static let tokens: [String] = [
        "{", "}", "[", "]", ":", ",", " ", "\n", "\t", "\r", "\"", "\\", "\"cmd\"", "\"put\"", "\"filename\"",
        "\"filesize\"", "\"a.txt\"", "\"\"", "0", "-0", "1", "-1", "01", "1.", ".5", "1.5", "1e5", "1E-5", "1e",
        "1e+", "-", "+1", "123456789012345678901234567890", "9223372036854775807", "9223372036854775808",
        "-9223372036854775809", "1e999999", "true", "false", "null", "tru", "nul", "NaN", "Infinity", "'x'",
        "\\u", "\\u00", "\\u0041", "\\uD800", "\\uDBFF", "\\uDC00", "\\uDFFF", "\\uD83D\\uDE00", "\\uD800\\u0041",
        "\\uDC00\\uD800", "\\x", "\\n", "\\\"", "\\/", "/*c*/", "//", "\u{0}", "\u{1F}", "\u{7F}", "é", "😀",
        "\u{FEFF}", "\u{2028}",
    ]

    static let interestingBytes: [UInt8] = Array("{}[]:,\" \\\t\n\r-+.0123456789eEtrufalsn/bu".utf8)
        + [0x00, 0x1F, 0x7F, 0x80, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF, 0xE0, 0xED, 0xEF, 0xF0, 0xF4, 0xF5, 0xFF]

    /// Byte sequences a strict UTF-8 reader must refuse (overlong, surrogate, too large, truncated,
    /// stray continuation), plus a few valid ones.
    static let utf8Pieces: [[UInt8]] = [
        [0xC0, 0x80], [0xC1, 0xBF], [0xE0, 0x80, 0x80], [0xE0, 0x9F, 0xBF], [0xED, 0xA0, 0x80], [0xED, 0xBF, 0xBF],
        [0xF0, 0x80, 0x80, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xF5, 0x80, 0x80, 0x80], [0xF8, 0x88, 0x80, 0x80, 0x80],
        [0x80], [0xBF], [0xC2], [0xE2, 0x82], [0xF0, 0x9F, 0x98], [0xFE], [0xFF],
        [0xC2, 0xA9], [0xE2, 0x82, 0xAC], [0xF0, 0x9F, 0x98, 0x80], [0xF4, 0x8F, 0xBF, 0xBF], [0xEF, 0xBB, 0xBF],
    ]

    static func randomBytes(_ rng: inout SeededRandom) -> [UInt8] {
        let count = Int.random(in: 0...400, using: &rng)
        return (0..<count).map { _ in
            Bool.random(using: &rng) ? interestingBytes.randomElement(using: &rng)! : UInt8.random(in: 0...255, using: &rng)
        }
    }

    static func tokenSoup(_ rng: inout SeededRandom) -> [UInt8] {
        var bytes: [UInt8] = Int.random(in: 0..<4, using: &rng) == 0 ? [] : [UInt8(ascii: "{")]
        for _ in 0..<Int.random(in: 0...80, using: &rng) {
            if Int.random(in: 0..<8, using: &rng) == 0 {
                bytes += utf8Pieces.randomElement(using: &rng)!
            } else {
                bytes += Array(tokens.randomElement(using: &rng)!.utf8)
            }
        }
        if Bool.random(using: &rng) { bytes.append(UInt8(ascii: "}")) }
        return bytes
    }

    /// A valid header with one large or deep feature: these probe time and stack, not grammar.
    static func extreme(_ rng: inout SeededRandom) -> [UInt8] {
        let size = Int.random(in: 1_000...200_000, using: &rng)
        switch Int.random(in: 0..<9, using: &rng) {
        case 0: return Array(String(repeating: "[", count: size).utf8)
        case 1: return Array(("{\"a\":" + String(repeating: "{\"a\":", count: size)).utf8)
        case 2: return Array(("{\"n\":" + String(repeating: "9", count: size) + "}").utf8)
        case 3: return Array(("{\"n\":0." + String(repeating: "0", count: size) + "1e-" + String(repeating: "9", count: 400) + "}").utf8)
        case 4: return Array(("{\"s\":\"" + String(repeating: "x", count: size) + "\"}").utf8)
        case 5: return Array(("{\"s\":\"" + String(repeating: "\\uD83D\\uDE00", count: size / 12) + "\"}").utf8)
        case 6: return Array(("{\"s\":\"" + String(repeating: "😀é", count: size / 6) + "\"}").utf8)
        case 7:
            // Many distinct keys, then a duplicate of the first.
            let keys = (0..<(size / 20)).map { "\"k\($0)\":\($0)" }.joined(separator: ",")
            return Array(("{" + keys + ",\"k0\":1}").utf8)
        default: return Array(("{\"s\":\"" + String(repeating: "\\", count: size | 1) + "\"}").utf8)
        }
    }

    static func mutated(_ base: [UInt8], _ rng: inout SeededRandom) -> [UInt8] {
        var bytes = base
        for _ in 0..<Int.random(in: 1...6, using: &rng) {
            let position = bytes.isEmpty ? 0 : Int.random(in: 0..<bytes.count, using: &rng)
            switch Int.random(in: 0..<10, using: &rng) {
            case 0 where !bytes.isEmpty:  // truncate
                bytes.removeSubrange(position...)
            case 1 where !bytes.isEmpty:  // flip bits
                bytes[position] ^= UInt8(1) << UInt8.random(in: 0...7, using: &rng)
            case 2 where !bytes.isEmpty:  // replace a byte
                bytes[position] = interestingBytes.randomElement(using: &rng)!
            case 3 where !bytes.isEmpty:  // delete a run
                bytes.removeSubrange(position..<min(bytes.count, position + Int.random(in: 1...8, using: &rng)))
            case 4:  // insert a token
                bytes.insert(contentsOf: Array(tokens.randomElement(using: &rng)!.utf8), at: position)
            case 5:  // insert invalid (or valid) UTF-8
                bytes.insert(contentsOf: utf8Pieces.randomElement(using: &rng)!, at: position)
            case 6 where !bytes.isEmpty:  // duplicate a run (often a duplicate key)
                let end = min(bytes.count, position + Int.random(in: 1...30, using: &rng))
                bytes.insert(contentsOf: Array(bytes[position..<end]), at: Int.random(in: 0...bytes.count, using: &rng))
            case 7:  // a surrogate half where a string may be
                let half = ["\\uD800", "\\uDBFF", "\\uDC00", "\\uDFFF", "\\uD800\\uD800", "\\uDC00\\uDC00", "\\uD83D"].randomElement(using: &rng)!
                bytes.insert(contentsOf: Array(half.utf8), at: position)
            case 8:  // nesting
                bytes.insert(contentsOf: Array(String(repeating: ["{", "[", "{\"a\":"].randomElement(using: &rng)!, count: Int.random(in: 1...64, using: &rng)).utf8), at: position)
            default:  // a long run of one byte
                bytes.insert(contentsOf: [UInt8](repeating: interestingBytes.randomElement(using: &rng)!, count: Int.random(in: 1...3000, using: &rng)), at: position)
            }
        }
        return bytes
    }

    /// The `index`-th input of a run: the kinds take turns.
    static func input(_ index: Int, _ rng: inout SeededRandom) -> [UInt8] {
        switch index % 5 {
        case 0: return randomBytes(&rng)
        case 1: return tokenSoup(&rng)
        case 2, 3: return mutated(Array(validHeaders.randomElement(using: &rng)!.utf8), &rng)
        default: return index % 50 == 4 ? extreme(&rng) : mutated(tokenSoup(&rng), &rng)
        }
    }
}

/// JSON text for a parsed value: strings with every non-ASCII scalar escaped (surrogate pairs
/// above U+FFFF), so that re-parsing checks the escapes as well.
func encodeFlatJSON(_ object: [String: FlatJSONValue]) -> String {
    func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _ where scalar.value < 0x20 || scalar.value > 0x7E:
                if scalar.value > 0xFFFF {
                    let value = scalar.value - 0x10000
                    out += String(format: "\\u%04X\\u%04X", 0xD800 + (value >> 10), 0xDC00 + (value & 0x3FF))
                } else {
                    out += String(format: "\\u%04x", scalar.value)
                }
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
    let members = object.sorted { $0.key < $1.key }.map { key, value -> String in
        let text: String
        switch value {
        case .string(let string): text = quoted(string)
        case .number(let number): text = number
        case .bool(let flag): text = flag ? "true" : "false"
        case .null: text = "null"
        }
        return quoted(key) + ":" + text
    }
    return "{" + members.joined(separator: ",") + "}"
}

final class FlatJSONFuzzTests: XCTestCase {
    /// Parses `bytes`; checks that the outcome is well formed, and that a parsed object encodes to
    /// JSON that parses back to itself. Returns whether it parsed.
    @discardableResult
    func check(_ bytes: [UInt8], _ label: String, file: StaticString = #filePath, line: UInt = #line) -> Bool {
        do {
            let object = try FlatJSON.parseObject(bytes)
            let again = try? FlatJSON.parseObject(Array(encodeFlatJSON(object).utf8))
            XCTAssertEqual(again, object, "\(label): the parsed object does not survive a round trip", file: file, line: line)
            for case .number(let text) in object.values {
                XCTAssertFalse(text.isEmpty, "\(label): empty number", file: file, line: line)
                // A number the grammar accepted is one Swift reads as a Double (perhaps infinite).
                XCTAssertNotNil(Double(text), "\(label): \(text) is not a number", file: file, line: line)
            }
            return true
        } catch {
            XCTAssertTrue((0...bytes.count).contains(error.offset), "\(label): offset \(error.offset) outside 0...\(bytes.count)",
                          file: file, line: line)
            XCTAssertFalse(error.reason.isEmpty, "\(label): no reason", file: file, line: line)
            return false
        }
    }

    func testSixThousandRandomAndMutatedHeaders() {
        var rng = SeededRandom(seed: 0x5EED_F1A7_0001)
        let start = ContinuousClock.now
        var parsed = 0
        var slowest: (Duration, Int) = (.zero, -1)
        for index in 0..<6000 {
            let input = HeaderFuzz.input(index, &rng)
            let began = ContinuousClock.now
            if check(input, "input \(index) (\(input.count) bytes)") { parsed += 1 }
            let took = ContinuousClock.now - began
            if took > slowest.0 { slowest = (took, index) }
        }
        let elapsed = ContinuousClock.now - start
        // Linear time: the largest inputs (200 kB) take about 0.15 s in a debug build and a few
        // seconds under a sanitizer on a loaded machine; quadratic work would take minutes.
        XCTAssertLessThan(slowest.0, .seconds(30), "input \(slowest.1) took \(slowest.0)")
        XCTAssertLessThan(elapsed, .seconds(300))
        // The mutations keep some headers valid: the success path is fuzzed too.
        XCTAssertGreaterThan(parsed, 100)
        print("flatjson fuzz: 6000 inputs, \(parsed) parsed, in \(elapsed); slowest \(slowest.0) (input \(slowest.1))")
    }

    /// Valid headers with whitespace between every token still parse, to the same object.
    func testWhitespaceBetweenTokensChangesNothing() throws {
        var rng = SeededRandom(seed: 0x5EED_F1A7_0002)
        for header in HeaderFuzz.validHeaders {
            let expected = try FlatJSON.parseObject(Array(header.utf8))
            for _ in 0..<50 {
                // Re-encode, then pad around structural characters (outside strings, which the
                // encoder writes without any of them unescaped except inside quotes: skip those).
                var out: [UInt8] = []
                var inString = false, escaped = false
                for byte in encodeFlatJSON(expected).utf8 {
                    if !inString, [UInt8(ascii: "{"), UInt8(ascii: "}"), UInt8(ascii: ":"), UInt8(ascii: ",")].contains(byte) {
                        out += (0..<Int.random(in: 0...3, using: &rng)).map { _ in [0x20, 0x09, 0x0A, 0x0D].randomElement(using: &rng)! }
                    }
                    out.append(byte)
                    if inString {
                        if escaped { escaped = false } else if byte == UInt8(ascii: "\\") { escaped = true } else if byte == UInt8(ascii: "\"") { inString = false }
                    } else if byte == UInt8(ascii: "\"") {
                        inString = true
                    }
                }
                XCTAssertEqual(try FlatJSON.parseObject(out), expected, String(decoding: out, as: UTF8.self))
            }
        }
    }

    /// Inputs kept for good: the classic traps of JSON parsers, each refused or parsed correctly.
    func testRegressions() throws {
        let refused: [[UInt8]] = [
            [], [0x7B], [0x7B, 0x22], [0x7B, 0x22, 0x5C], [0x7B, 0x22, 0x61, 0x22, 0x3A], Array("{\"a\":\"\\u".utf8),
            Array("{\"a\":\"\\uD800\"}".utf8), Array("{\"a\":\"\\uDC00\"}".utf8), Array("{\"a\":\"\\uD800\\u0041\"}".utf8),
            Array("{\"a\":\"\\uD800\\uD800\"}".utf8), Array("{\"a\":\"\\uD800\\".utf8), Array("{\"a\":\"\\uD800\\u".utf8),
            Array("{\"a\":\"\\uD800\\uDC0".utf8), [0x7B, 0x22, 0xED, 0xA0, 0x80, 0x22, 0x3A, 0x31, 0x7D],
            [0x7B, 0x22, 0xC0, 0x80, 0x22, 0x3A, 0x31, 0x7D], [0x7B, 0x22, 0xF4, 0x90, 0x80, 0x80, 0x22, 0x3A, 0x31, 0x7D],
            [0x7B, 0x22, 0xE2, 0x82], [0x7B, 0x22, 0xF0], Array("{\"a\":1,}".utf8), Array("{\"a\":01}".utf8),
            Array("{\"a\":-}".utf8), Array("{\"a\":1.}".utf8), Array("{\"a\":1e}".utf8), Array("{\"a\":[1]}".utf8),
            Array("{\"a\":{}}".utf8), Array("{\"a\":1,\"a\":2}".utf8), Array("{\"a\":1} x".utf8), Array("\u{FEFF}{}".utf8),
            Array((String(repeating: "[", count: 100_000)).utf8), Array((String(repeating: "{\"a\":", count: 100_000)).utf8),
        ]
        for (index, bytes) in refused.enumerated() {
            XCTAssertFalse(check(bytes, "refused \(index)"), "refused \(index) parsed: \(String(decoding: bytes, as: UTF8.self))")
        }
        let huge = try FlatJSON.parseObject(Array(("{\"n\":" + String(repeating: "9", count: 100_000) + "}").utf8))
        XCTAssertNil(huge["n"]?.integer, "a huge number is not an integer")
        XCTAssertEqual(try FlatJSON.parseObject(Array("{\"n\":1e999999}".utf8))["n"], .number("1e999999"))
        XCTAssertEqual(try FlatJSON.parseObject(Array("{\"s\":\"\\uDBFF\\uDFFF\"}".utf8))["s"], .string("\u{10FFFF}"))
        XCTAssertEqual(try FlatJSON.parseObject(Array("{\"s\":\"\\u0000\"}".utf8))["s"], .string("\u{0}"))
        XCTAssertEqual(try FlatJSON.parseObject(Array("{\"n\":-9223372036854775808}".utf8))["n"]?.integer, Int.min)
        XCTAssertNil(try FlatJSON.parseObject(Array("{\"n\":9223372036854775808}".utf8))["n"]?.integer)
    }
}
