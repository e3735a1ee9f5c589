// Lexing one config file: bytes into section headers and `key = value` lines with line numbers.

/// One meaningful line of a config file.
struct IniLine: Equatable {
    enum Content: Equatable {
        /// `[kind]` or `[kind name]`; the name is nil when absent.
        case section(kind: String, name: String?)
        case entry(key: String, value: String)
    }
    var content: Content
    var location: SourceLocation
}

/// Splits a file into `IniLine`s. Never fails as a whole: bad lines become errors and are skipped.
enum IniParser {
    /// The longest line accepted, in bytes.
    static let maximumLineLength = 64 * 1024

    static func parse(_ bytes: [UInt8], file: String) -> (lines: [IniLine], errors: [ConfigError]) {
        var lines: [IniLine] = []
        var errors: [ConfigError] = []
        var number = 0
        // A UTF-8 byte order mark, as some Windows editors write, is not part of the first line.
        let body = bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? bytes.dropFirst(3) : bytes[...]
        for raw in body.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            number += 1
            let location = SourceLocation(file: file, line: number)
            switch lex(raw) {
            case .blank: break
            case .line(let content): lines.append(IniLine(content: content, location: location))
            case .error(let message): errors.append(ConfigError(message, at: location))
            }
        }
        return (lines, errors)
    }

    enum Lexed: Equatable {
        case blank
        case line(IniLine.Content)
        case error(String)
    }

    /// One line, without its newline.
    static func lex(_ raw: ArraySlice<UInt8>) -> Lexed {
        guard raw.count <= maximumLineLength else {
            return .error("line is \(raw.count) bytes long, longer than the limit of \(maximumLineLength)")
        }
        if raw.contains(0) { return .error("line contains a NUL byte") }
        guard let text = String(validating: raw, as: UTF8.self) else { return .error("line is not valid UTF-8") }
        // Config files are text: control characters (other than whitespace) would only end up in
        // paths, names and terminal output.
        if let control = text.unicodeScalars.first(where: isControl) {
            return .error("line contains the control character U+\(hex4(control.value))")
        }
        let line = trim(stripComment(Substring(text)))
        if line.isEmpty { return .blank }
        if line.hasPrefix("[") { return section(line) }
        guard let equals = line.firstIndex(of: "=") else {
            return .error("syntax error: expected 'key = value', a [section] header or a comment, got "
                + ConfigText.quoted(line))
        }
        let key = trim(line[..<equals])
        let value = trim(line[line.index(after: equals)...])
        if key.isEmpty { return .error("syntax error: missing key before '='") }
        if key.contains(where: isSpace) {
            return .error("syntax error: key \(ConfigText.quoted(key)) contains whitespace")
        }
        return .line(.entry(key: String(key), value: String(value)))
    }

    private static func section(_ line: Substring) -> Lexed {
        guard line.hasSuffix("]"), line.count >= 2 else {
            return .error("syntax error: section header \(ConfigText.quoted(line)) is missing ']'")
        }
        let inner = trim(line.dropFirst().dropLast())
        guard !inner.isEmpty else { return .error("syntax error: empty section header '[]'") }
        if inner.contains("[") || inner.contains("]") {
            return .error("syntax error: bad section header \(ConfigText.quoted(line))")
        }
        guard let space = inner.firstIndex(where: isSpace) else {
            return .line(.section(kind: String(inner), name: nil))
        }
        let name = trim(inner[space...])
        return .line(.section(kind: String(inner[..<space]), name: name.isEmpty ? nil : String(name)))
    }

    /// Cuts a comment: `;` or `#` at the start of the line or after whitespace.
    static func stripComment(_ line: Substring) -> Substring {
        var previous: Character? = nil
        for index in line.indices {
            let character = line[index]
            if character == ";" || character == "#", previous.map(isSpace) ?? true {
                return line[..<index]
            }
            previous = character
        }
        return line
    }

    static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x09, 0x0B, 0x0C, 0x0D: return false  // whitespace
        case 0x00..<0x20, 0x7F..<0xA0: return true
        default: return false
        }
    }

    private static func hex4(_ value: UInt32) -> String {
        let digits = String(value, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }

    static func isSpace(_ character: Character) -> Bool {
        character == " " || character == "\t" || character == "\r" || character == "\u{0B}" || character == "\u{0C}"
    }

    static func trim(_ text: Substring) -> Substring {
        guard let start = text.firstIndex(where: { !isSpace($0) }) else { return text[text.endIndex...] }
        let end = text.lastIndex(where: { !isSpace($0) })!
        return text[start...end]
    }
}
