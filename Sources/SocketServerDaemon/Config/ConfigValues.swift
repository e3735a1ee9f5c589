// Parsing the typed values of keys: integers in a range, seconds, octal modes, allow lists.

enum ConfigValues {
    /// A decimal integer of ASCII digits only (no sign, no spaces) within `range`.
    static func integer(_ text: String, key: String, in range: ClosedRange<Int>) -> Result<Int, Problem> {
        let expected = range.upperBound == Int.max
            ? "an integer \(range.lowerBound) or more"
            : "an integer from \(range.lowerBound) to \(range.upperBound)"
        guard !text.isEmpty, text.utf8.allSatisfy({ (0x30...0x39).contains($0) }) else {
            return .failure(Problem("\(key) must be \(expected), got \(ConfigText.quoted(text))"))
        }
        guard let value = Int(text), range.contains(value) else {
            return .failure(Problem("\(key) must be \(expected), got \(ConfigText.quoted(text))"))
        }
        return .success(value)
    }

    /// The longest duration a key may give: a year. Far beyond any sensible timeout, and small
    /// enough that no conversion (to milliseconds, to a deadline) can overflow.
    static let maxSeconds: Int64 = 31_536_000

    /// Seconds from 0 to a year with an optional fraction: `30`, `2.5`, `0.125`. Digits past
    /// nanoseconds are ignored.
    static func seconds(_ text: String, key: String) -> Result<Duration, Problem> {
        let failure = Problem("\(key) must be a number of seconds from 0 to \(maxSeconds) (a year), such as 30 or 2.5, "
                              + "got \(ConfigText.quoted(text))")
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count <= 2, !parts[0].isEmpty,
              parts.allSatisfy({ $0.utf8.allSatisfy { (0x30...0x39).contains($0) } }) else { return .failure(failure) }
        guard let whole = Int64(parts[0]), whole <= maxSeconds else { return .failure(failure) }
        var nanoseconds: Int64 = 0
        if parts.count == 2 {
            guard !parts[1].isEmpty else { return .failure(failure) }
            let digits = String(parts[1].prefix(9))
            nanoseconds = Int64(digits + String(repeating: "0", count: 9 - digits.count)) ?? 0
        }
        return .success(.seconds(whole) + .nanoseconds(nanoseconds))
    }

    /// An octal file mode such as `0660` or `660` (at most 0o7777).
    static func fileMode(_ text: String, key: String) -> Result<UInt32, Problem> {
        guard (1...5).contains(text.utf8.count), text.utf8.allSatisfy({ (0x30...0x37).contains($0) }),
              let mode = UInt32(text, radix: 8), mode <= 0o7777 else {
            return .failure(Problem("\(key) must be an octal file mode such as 0660, got \(ConfigText.quoted(text))"))
        }
        return .success(mode)
    }

    /// Comma-separated CIDR ranges; every bad entry is its own problem.
    static func addressRanges(_ text: String, key: String) -> Result<[AddressRange], Problems> {
        var ranges: [AddressRange] = []
        var problems: [Problem] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let entry = IniParser.trim(part)
            if entry.isEmpty {
                problems.append(Problem("\(key) has an empty entry (entries are separated by commas)"))
            } else if let range = AddressRange(String(entry)) {
                ranges.append(range)
            } else {
                problems.append(Problem("\(key) entry \(ConfigText.quoted(entry)) is not an IPv4 or IPv6 address "
                    + "or network (such as 10.0.0.0/8 or fd00::/8)"))
            }
        }
        return problems.isEmpty ? .success(ranges) : .failure(Problems(list: problems))
    }

    struct Problem: Error, Equatable {
        var message: String
        init(_ message: String) { self.message = message }
    }

    struct Problems: Error, Equatable {
        var list: [Problem]
    }
}
