// Bytes to text and back as Python spells it: `data.decode()` (strict, throws on bad UTF-8),
// `data.decode(errors: .replace)` (lenient) and `text.encode()`.

/// Bytes that are not valid UTF-8 (Python's `UnicodeDecodeError`).
public struct UnicodeDecodeError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The offset of the first byte that does not start or continue a valid UTF-8 sequence.
    public let position: Int
    /// That byte.
    public let byte: UInt8

    public init(position: Int, byte: UInt8) {
        self.position = position
        self.byte = byte
    }

    public var description: String {
        let hex = String(byte, radix: 16)
        return "'utf-8' codec can't decode byte 0x\(hex.count < 2 ? "0" + hex : hex) in position \(position)"
    }
}

/// What a lenient `decode(errors:)` does with bytes that are not UTF-8.
public enum DecodeErrors: Sendable {
    /// Each bad sequence becomes U+FFFD (Python's `errors="replace"`), as `String(decoding:as:)` does.
    case replace
}

extension Collection where Element == UInt8 {
    /// The bytes as UTF-8 text, or `UnicodeDecodeError` at the first byte that is not valid
    /// UTF-8 (Python's `bytes.decode()`).
    public func decode() throws(UnicodeDecodeError) -> String {
        if let text = String(validating: self, as: UTF8.self) { return text }
        // Invalid: find where, decoding scalar by scalar.
        var decoder = UTF8()
        var iterator = makeIterator()
        var position = 0
        while case .scalarValue(let scalar) = decoder.decode(&iterator) { position += UTF8.width(scalar) }
        throw UnicodeDecodeError(position: position, byte: self[index(startIndex, offsetBy: position)])
    }

    /// The bytes as UTF-8 text, bad sequences replaced (Python's `bytes.decode(errors="replace")`).
    public func decode(errors: DecodeErrors) -> String {
        String(decoding: self, as: UTF8.self)
    }
}

extension StringProtocol {
    /// The text's UTF-8 bytes (Python's `str.encode()`).
    public func encode() -> [UInt8] { Array(utf8) }
}
