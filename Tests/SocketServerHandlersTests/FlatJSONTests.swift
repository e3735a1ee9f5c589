// The upload header's JSON parser: valid objects, escapes, and every malformed case it must refuse.
import XCTest
import SocketServerHandlers
import SocketServerTestSupport

final class FlatJSONTests: XCTestCase {
    private func parse(_ text: String) throws -> [String: FlatJSONValue] {
        try FlatJSON.parseObject(Array(text.utf8))
    }

    func testValidObjects() throws {
        XCTAssertEqual(try parse("{}"), [:])
        XCTAssertEqual(try parse(" \t\r\n{ \n} \r\n"), [:])
        XCTAssertEqual(
            try parse(#"{"cmd":"put","filename":"a.txt","filesize":123}"#),
            ["cmd": .string("put"), "filename": .string("a.txt"), "filesize": .number("123")])
        XCTAssertEqual(
            try parse(#" { "s" : "" , "t" : true , "f" : false , "n" : null , "" : 0 } "#),
            ["s": .string(""), "t": .bool(true), "f": .bool(false), "n": .null, "": .number("0")])
    }

    func testNumbers() throws {
        for text in ["0", "-0", "7", "123", "-45", "3.25", "-0.5", "1e10", "1E+2", "2.5e-3", "9223372036854775807", "123456789012345678901234567890"] {
            XCTAssertEqual(try parse("{\"n\":\(text)}")["n"], .number(text), text)
        }
        XCTAssertEqual(FlatJSONValue.number("123").integer, 123)
        XCTAssertEqual(FlatJSONValue.number("-45").integer, -45)
        XCTAssertEqual(FlatJSONValue.number("0").integer, 0)
        XCTAssertNil(FlatJSONValue.number("1.0").integer)
        XCTAssertNil(FlatJSONValue.number("1e3").integer)
        XCTAssertNil(FlatJSONValue.number("123456789012345678901234567890").integer)
        XCTAssertNil(FlatJSONValue.string("12").integer)
        XCTAssertNil(FlatJSONValue.bool(true).integer)
    }

    func testStringEscapes() throws {
        XCTAssertEqual(try parse(#"{"e":"\"\\\/\b\f\n\r\t"}"#)["e"], .string("\"\\/\u{08}\u{0C}\n\r\t"))
        XCTAssertEqual(try parse(#"{"u":"\u0041\u00e9\u00E9\u20AC"}"#)["u"], .string("Aéé€"))
        XCTAssertEqual(try parse(#"{"u":"\ud83d\ude00!"}"#)["u"], .string("😀!"))
        XCTAssertEqual(try parse(#"{"u":"\uD834\uDD1E"}"#)["u"], .string("𝄞"))
        XCTAssertEqual(try parse(#"{"u":"a\u0000b"}"#)["u"], .string("a\u{0}b"))
        XCTAssertEqual(try parse(#"{"u":"\u007f\u0080"}"#)["u"], .string("\u{7F}\u{80}"))
        // Raw UTF-8 passes through.
        XCTAssertEqual(try parse("{\"u\":\"héllo 😀 €\"}")["u"], .string("héllo 😀 €"))
        // Keys are unescaped too.
        XCTAssertEqual(try parse(#"{"k\u0065y":1}"#), ["key": .number("1")])
    }

    func testMalformedInputIsRefused() {
        let cases: [(String, [UInt8])] = [
            ("empty", []),
            ("only whitespace", Array("  \n".utf8)),
            ("array", Array("[]".utf8)),
            ("number", Array("1".utf8)),
            ("string", Array("\"x\"".utf8)),
            ("null", Array("null".utf8)),
            ("unclosed object", Array("{".utf8)),
            ("unclosed after value", Array("{\"a\":1".utf8)),
            ("unclosed after comma", Array("{\"a\":1,".utf8)),
            ("key without value", Array("{\"a\"}".utf8)),
            ("colon without value", Array("{\"a\":}".utf8)),
            ("missing colon", Array("{\"a\" 1}".utf8)),
            ("missing comma", Array("{\"a\":1 \"b\":2}".utf8)),
            ("trailing comma", Array("{\"a\":1,}".utf8)),
            ("lone comma", Array("{,}".utf8)),
            ("bare key", Array("{a:1}".utf8)),
            ("single quotes", Array("{'a':1}".utf8)),
            ("number key", Array("{1:1}".utf8)),
            ("leading zero", Array("{\"a\":01}".utf8)),
            ("plus sign", Array("{\"a\":+1}".utf8)),
            ("leading dot", Array("{\"a\":.5}".utf8)),
            ("trailing dot", Array("{\"a\":1.}".utf8)),
            ("empty exponent", Array("{\"a\":1e}".utf8)),
            ("signed empty exponent", Array("{\"a\":1e+}".utf8)),
            ("minus alone", Array("{\"a\":-}".utf8)),
            ("hex number", Array("{\"a\":0x10}".utf8)),
            ("NaN", Array("{\"a\":NaN}".utf8)),
            ("Infinity", Array("{\"a\":Infinity}".utf8)),
            ("truncated true", Array("{\"a\":tru}".utf8)),
            ("true with tail", Array("{\"a\":truex}".utf8)),
            ("capital True", Array("{\"a\":True}".utf8)),
            ("truncated null", Array("{\"a\":nul}".utf8)),
            ("nested object", Array("{\"a\":{}}".utf8)),
            ("nested array", Array("{\"a\":[1]}".utf8)),
            ("trailing garbage", Array("{\"a\":1}x".utf8)),
            ("two objects", Array("{}{}".utf8)),
            ("unterminated string", Array("{\"a\":\"x}".utf8)),
            ("unterminated key", Array("{\"a".utf8)),
            ("unknown escape", Array(#"{"a":"\x"}"#.utf8)),
            ("escape at end", Array(#"{"a":"\"#.utf8)),
            ("short \\u", Array(#"{"a":"\u12"}"#.utf8)),
            ("bad hex in \\u", Array(#"{"a":"\u12G4"}"#.utf8)),
            ("\\u at end", Array(#"{"a":"\u00"#.utf8)),
            ("lone high surrogate", Array(#"{"a":"\ud83d"}"#.utf8)),
            ("high surrogate then text", Array(#"{"a":"\ud83dxx"}"#.utf8)),
            ("high surrogate then non-surrogate", Array(#"{"a":"\ud83d\u0041"}"#.utf8)),
            ("two high surrogates", Array(#"{"a":"\ud83d\ud83d"}"#.utf8)),
            ("lone low surrogate", Array(#"{"a":"\ude00"}"#.utf8)),
            ("raw newline in string", Array("{\"a\":\"a\nb\"}".utf8)),
            ("raw tab in string", Array("{\"a\":\"a\tb\"}".utf8)),
            ("raw NUL in string", [0x7B, 0x22, 0x61, 0x22, 0x3A, 0x22, 0x00, 0x22, 0x7D]),
            ("invalid UTF-8 byte", [0x7B, 0x22, 0x61, 0x22, 0x3A, 0x22, 0xFF, 0x22, 0x7D]),
            ("continuation byte alone", [0x7B, 0x22, 0x61, 0x22, 0x3A, 0x22, 0x80, 0x22, 0x7D]),
            ("overlong slash", [0x7B, 0x22, 0x61, 0x22, 0x3A, 0x22, 0xC0, 0xAF, 0x22, 0x7D]),
            ("overlong 3-byte", [0x7B, 0x22, 0x61, 0x22, 0x3A, 0x22, 0xE0, 0x80, 0xAF, 0x22, 0x7D]),
            ("truncated sequence", [0x7B, 0x22, 0x61, 0x22, 0x3A, 0x22, 0xE2, 0x82, 0x22, 0x7D]),
            ("encoded surrogate", [0x7B, 0x22, 0x61, 0x22, 0x3A, 0x22, 0xED, 0xA0, 0x80, 0x22, 0x7D]),
            ("beyond U+10FFFF", [0x7B, 0x22, 0x61, 0x22, 0x3A, 0x22, 0xF4, 0x90, 0x80, 0x80, 0x22, 0x7D]),
            ("sequence cut by end", [0x7B, 0x22, 0x61, 0x22, 0x3A, 0x22, 0xF0, 0x9F]),
            ("duplicate key", Array("{\"a\":1,\"a\":2}".utf8)),
            ("vertical tab whitespace", Array("{\u{0B}}".utf8)),
            ("byte order mark", [0xEF, 0xBB, 0xBF, 0x7B, 0x7D]),
            ("comment", Array("{/* c */}".utf8)),
            ("NUL after object", [0x7B, 0x7D, 0x00]),
        ]
        for (name, bytes) in cases {
            XCTAssertThrowsError(try FlatJSON.parseObject(bytes), name) { error in
                guard let error = error as? FlatJSONError else { return XCTFail("\(name): \(error)") }
                XCTAssertFalse(error.reason.isEmpty, name)
                XCTAssertTrue((0...bytes.count).contains(error.offset), "\(name): offset \(error.offset)")
            }
        }
    }

    func testErrorsSayWhatAndWhere() {
        XCTAssertThrowsError(try parse(#"{"a":1,"a":2}"#)) { error in
            XCTAssertEqual("\(error)", "duplicate key \"a\" at byte 7")
        }
        XCTAssertThrowsError(try parse(#"{"a":"\ude00"}"#)) { error in
            XCTAssertEqual("\(error)", "unpaired low surrogate at byte 6")
        }
        XCTAssertThrowsError(try parse(#"{"a":1} x"#)) { error in
            XCTAssertEqual("\(error)", "unexpected data after the object at byte 8")
        }
    }
}
