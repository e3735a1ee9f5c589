// The kinds of value a key takes: how a value's text parses (ConfigValues does the work) and how
// a value is written back as text, for the defaults shown in help.
import SocketServer

/// How one kind of value parses from its text, and how a value of it is written in a config file.
struct ValueKind<Value: Sendable>: Sendable {
    /// (text, key, context) → the value, or every problem with the text.
    let parse: @Sendable (String, String, KeyContext) -> Result<Value, ConfigValues.Problems>
    /// The value as one would write it; nil when it has no text (an unset path, an empty list).
    let format: @Sendable (Value) -> String?
}

extension ValueKind {
    /// A kind whose parse gives one problem at most.
    static func single(_ parse: @escaping @Sendable (String, String, KeyContext) -> Result<Value, ConfigValues.Problem>,
                       format: @escaping @Sendable (Value) -> String?) -> ValueKind {
        ValueKind(parse: { text, key, context in parse(text, key, context).mapError { ConfigValues.Problems(list: [$0]) } },
                  format: format)
    }
}

extension ValueKind where Value == Int {
    static func integer(_ range: ClosedRange<Int>) -> ValueKind {
        .single({ text, key, _ in ConfigValues.integer(text, key: key, in: range) }, format: { String($0) })
    }
}

extension ValueKind where Value == Duration {
    /// Seconds from 0 to a year, fractions allowed.
    static let seconds = ValueKind.single({ text, key, _ in ConfigValues.seconds(text, key: key) },
                                          format: { ValueKinds.secondsText($0) })
}

extension ValueKind where Value == Duration? {
    /// Seconds, where 0 means no limit (nil).
    static let secondsOrNever = ValueKind.single(
        { text, key, _ in ConfigValues.seconds(text, key: key).map { $0 == .zero ? nil : $0 } },
        format: { $0.map { ValueKinds.secondsText($0) } ?? "0" })
}

extension ValueKind {
    /// One of `names`: "unknown KEY 'x' (expected a, b or c) (did you mean 'b'?)".
    static func choice(_ cases: [Value], named name: @escaping @Sendable (Value) -> String) -> ValueKind where Value: Sendable {
        let names = cases.map(name)
        let table = Array(zip(names, cases))
        return .single({ text, key, _ in
            if let match = table.first(where: { $0.0 == text }) { return .success(match.1) }
            return .failure(ConfigValues.Problem("unknown \(key) \(ConfigText.quoted(text)) (expected "
                + ConfigText.list(names) + ")" + ConfigText.didYouMean(text, among: names)))
        }, format: name)
    }
}

extension ValueKind where Value: RawRepresentable & CaseIterable, Value.RawValue == String {
    /// One of the type's names.
    static var choice: ValueKind { .choice(Array(Value.allCases), named: { $0.rawValue }) }
}

extension ValueKind where Value == LogLevel {
    /// debug, info, warning or error, exactly as written (the library's level, by its name).
    static var logLevel: ValueKind { .choice(LogLevel.allCases, named: { $0.description }) }
}

extension ValueKind where Value == String? {
    /// An absolute path; nil (the default) when the key is not set.
    static let optionalAbsolutePath = ValueKind.single({ text, key, _ in ValueKinds.absolutePath(text, key).map { $0 } },
                                                       format: { $0 })
}

extension ValueKind where Value == UInt32? {
    static let fileMode = ValueKind.single({ text, key, _ in ConfigValues.fileMode(text, key: key).map { $0 } },
                                           format: { $0.map { "0" + String($0, radix: 8) } })
}

extension ValueKind where Value == [AddressRange] {
    static let addressRanges = ValueKind(parse: { text, key, _ in ConfigValues.addressRanges(text, key: key) },
                                         format: { $0.isEmpty ? nil : $0.map { "\($0)" }.joined(separator: ", ") })
}

/// Helpers the kinds share.
enum ValueKinds {
    /// `30`, `2.5`: whole seconds, then the fraction without trailing zeros.
    static func secondsText(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        guard attoseconds != 0 else { return String(seconds) }
        var fraction = String(attoseconds / 1_000_000_000)
        fraction = String(repeating: "0", count: max(0, 9 - fraction.count)) + fraction
        while fraction.hasSuffix("0") { fraction.removeLast() }
        return "\(seconds).\(fraction)"
    }

    static func absolutePath(_ text: String, _ key: String) -> Result<String, ConfigValues.Problem> {
        guard text.hasPrefix("/") else {
            return .failure(ConfigValues.Problem("\(key) must be an absolute path, got \(ConfigText.quoted(text))"))
        }
        return .success(text)
    }
}
