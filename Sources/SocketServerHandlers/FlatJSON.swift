// A strict parser for one flat JSON object (the upload header), without Foundation.

/// A value in a flat JSON object.
public enum FlatJSONValue: Equatable, Sendable {
    case string(String)
    /// A number, kept as written (RFC 8259 grammar), so integers are read back exactly.
    case number(String)
    case bool(Bool)
    case null

    /// The value as an exact integer: a number written without fraction or exponent that fits `Int`.
    public var integer: Int? {
        guard case .number(let text) = self, !text.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }) else {
            return nil
        }
        return Int(text)
    }

    /// The value as a string, or nil if it is not one.
    public var string: String? {
        if case .string(let text) = self { return text }
        return nil
    }
}

/// Why a header is not a flat JSON object, and where (byte offset).
public struct FlatJSONError: Error, Equatable, Sendable, CustomStringConvertible {
    public let offset: Int
    public let reason: String

    public var description: String { "\(reason) at byte \(offset)" }
}

/// Parses exactly one JSON object whose values are strings, numbers, booleans or null.
///
/// Strict RFC 8259: whitespace is space, tab, CR and LF only; no trailing commas, comments,
/// single quotes, leading zeros, `+`, `NaN` or bare words; strings must be valid UTF-8 without raw
/// control characters; `\uXXXX` escapes must pair surrogates correctly; duplicate keys, nested
/// objects or arrays, and anything after the closing brace are errors.
public enum FlatJSON {
    public static func parseObject(_ bytes: [UInt8]) throws(FlatJSONError) -> [String: FlatJSONValue] {
        var parser = Parser(bytes: bytes)
        return try parser.object()
    }
}

private struct Parser {
    let bytes: [UInt8]
    var index = 0

    init(bytes: [UInt8]) { self.bytes = bytes }

    func fail(_ reason: String, at offset: Int? = nil) -> FlatJSONError {
        FlatJSONError(offset: offset ?? index, reason: reason)
    }

    var current: UInt8? { index < bytes.count ? bytes[index] : nil }

    mutating func skipWhitespace() {
        while let byte = current, byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D { index += 1 }
    }

    mutating func expect(_ byte: UInt8, _ what: String) throws(FlatJSONError) {
        guard current == byte else { throw fail(current == nil ? "unexpected end, expected \(what)" : "expected \(what)") }
        index += 1
    }

    mutating func object() throws(FlatJSONError) -> [String: FlatJSONValue] {
        skipWhitespace()
        guard current == UInt8(ascii: "{") else {
            throw fail(current == nil ? "empty input, expected an object" : "expected an object")
        }
        index += 1
        var result: [String: FlatJSONValue] = [:]
        skipWhitespace()
        if current == UInt8(ascii: "}") {
            index += 1
        } else {
            while true {
                skipWhitespace()
                guard current == UInt8(ascii: "\"") else {
                    throw fail(current == nil ? "unexpected end, expected a key" : "expected a string key")
                }
                let keyOffset = index
                let key = try string()
                skipWhitespace()
                try expect(UInt8(ascii: ":"), "':'")
                skipWhitespace()
                let value = try self.value()
                guard result.updateValue(value, forKey: key) == nil else {
                    throw fail("duplicate key \"\(key)\"", at: keyOffset)
                }
                skipWhitespace()
                if current == UInt8(ascii: ",") { index += 1; continue }
                try expect(UInt8(ascii: "}"), "',' or '}'")
                break
            }
        }
        skipWhitespace()
        guard current == nil else { throw fail("unexpected data after the object") }
        return result
    }

    mutating func value() throws(FlatJSONError) -> FlatJSONValue {
        guard let byte = current else { throw fail("unexpected end, expected a value") }
        switch byte {
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
        case UInt8(ascii: "t"): try word("true"); return .bool(true)
        case UInt8(ascii: "f"): try word("false"); return .bool(false)
        case UInt8(ascii: "n"): try word("null"); return .null
        case UInt8(ascii: "{"), UInt8(ascii: "["): throw fail("nested objects and arrays are not supported")
        default: throw fail("expected a value")
        }
    }

    mutating func word(_ text: StaticString) throws(FlatJSONError) {
        let start = index
        let expected = UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount)
        for byte in expected {
            guard current == byte else { throw fail("invalid literal", at: start) }
            index += 1
        }
    }

    /// `-? (0 | [1-9][0-9]*) (\.[0-9]+)? ([eE][+-]?[0-9]+)?`
    mutating func number() throws(FlatJSONError) -> String {
        let start = index
        func isDigit(_ byte: UInt8?) -> Bool { byte.map { $0 >= 0x30 && $0 <= 0x39 } ?? false }
        if current == UInt8(ascii: "-") { index += 1 }
        guard isDigit(current) else { throw fail("invalid number", at: start) }
        if current == UInt8(ascii: "0") {
            index += 1
            if isDigit(current) { throw fail("leading zero in number", at: start) }
        } else {
            while isDigit(current) { index += 1 }
        }
        if current == UInt8(ascii: ".") {
            index += 1
            guard isDigit(current) else { throw fail("invalid number", at: start) }
            while isDigit(current) { index += 1 }
        }
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            index += 1
            if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { index += 1 }
            guard isDigit(current) else { throw fail("invalid number", at: start) }
            while isDigit(current) { index += 1 }
        }
        return String(decoding: bytes[start..<index], as: UTF8.self)
    }

    /// A string starting at the opening quote.
    mutating func string() throws(FlatJSONError) -> String {
        let start = index
        index += 1
        var scalars = String.UnicodeScalarView()
        while true {
            guard let byte = current else { throw fail("unterminated string", at: start) }
            switch byte {
            case UInt8(ascii: "\""):
                index += 1
                return String(scalars)
            case UInt8(ascii: "\\"):
                scalars.append(try escape())
            case 0x00..<0x20:
                throw fail("control character in string")
            case 0x00..<0x80:
                scalars.append(Unicode.Scalar(byte))
                index += 1
            default:
                scalars.append(try utf8Scalar())
            }
        }
    }

    /// An escape starting at the backslash.
    mutating func escape() throws(FlatJSONError) -> Unicode.Scalar {
        let start = index
        index += 1
        guard let byte = current else { throw fail("unterminated string", at: start) }
        index += 1
        switch byte {
        case UInt8(ascii: "\""): return "\""
        case UInt8(ascii: "\\"): return "\\"
        case UInt8(ascii: "/"): return "/"
        case UInt8(ascii: "b"): return "\u{08}"
        case UInt8(ascii: "f"): return "\u{0C}"
        case UInt8(ascii: "n"): return "\n"
        case UInt8(ascii: "r"): return "\r"
        case UInt8(ascii: "t"): return "\t"
        case UInt8(ascii: "u"):
            let first = try hex4(escapeStart: start)
            switch first {
            case 0xD800...0xDBFF:
                guard current == UInt8(ascii: "\\"), index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "u") else {
                    throw fail("unpaired high surrogate", at: start)
                }
                let lowStart = index
                index += 2
                let second = try hex4(escapeStart: lowStart)
                guard (0xDC00...0xDFFF).contains(second) else { throw fail("unpaired high surrogate", at: start) }
                let value = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
                return Unicode.Scalar(value)!
            case 0xDC00...0xDFFF:
                throw fail("unpaired low surrogate", at: start)
            default:
                return Unicode.Scalar(first)!
            }
        default:
            throw fail("invalid escape", at: start)
        }
    }

    mutating func hex4(escapeStart: Int) throws(FlatJSONError) -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard let byte = current else { throw fail("truncated \\u escape", at: escapeStart) }
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw fail("invalid \\u escape", at: escapeStart)
            }
            value = value << 4 | UInt32(digit)
            index += 1
        }
        return value
    }

    /// One multi-byte UTF-8 sequence, strictly: no overlongs, surrogates or values past U+10FFFF.
    mutating func utf8Scalar() throws(FlatJSONError) -> Unicode.Scalar {
        let start = index
        let lead = bytes[index]
        let length: Int
        var value: UInt32
        let lowest: UInt32
        switch lead {
        case 0xC2...0xDF: length = 2; value = UInt32(lead & 0x1F); lowest = 0x80
        case 0xE0...0xEF: length = 3; value = UInt32(lead & 0x0F); lowest = 0x800
        case 0xF0...0xF4: length = 4; value = UInt32(lead & 0x07); lowest = 0x10000
        default: throw fail("invalid UTF-8", at: start)
        }
        guard start + length <= bytes.count else { throw fail("invalid UTF-8", at: start) }
        for offset in 1..<length {
            let byte = bytes[start + offset]
            guard byte & 0xC0 == 0x80 else { throw fail("invalid UTF-8", at: start) }
            value = value << 6 | UInt32(byte & 0x3F)
        }
        guard value >= lowest, let scalar = Unicode.Scalar(value) else { throw fail("invalid UTF-8", at: start) }
        index += length
        return scalar
    }
}
