// Small text helpers for the loader: quoting values in messages and "did you mean" suggestions.

enum ConfigText {
    /// The longest part of a value shown in a message.
    static let shownLimit = 60

    /// `value` in single quotes for a message: control characters escaped, long values cut short,
    /// so that no input can garble a terminal or flood the log.
    static func quoted(_ value: some StringProtocol) -> String {
        var shown = ""
        var count = 0
        for scalar in value.unicodeScalars {
            if count == shownLimit {
                shown += "…"
                break
            }
            count += 1
            switch scalar {
            case "\t": shown += "\\t"
            case "'": shown += "\\'"
            case "\\": shown += "\\\\"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7f || (0x80..<0xa0).contains(scalar.value) {
                    shown += "\\u{\(String(scalar.value, radix: 16))}"
                } else {
                    shown.unicodeScalars.append(scalar)
                }
            }
        }
        return "'\(shown)'"
    }

    /// The candidate closest to `word` if it is at most `maximum` edits away (ties: first in order).
    static func suggestion(for word: String, among candidates: [String], maximum: Int = 2) -> String? {
        let letters = Array(word.unicodeScalars)
        // Longer words cannot be within `maximum` edits of any short key; skip the work.
        let longest = candidates.map { $0.unicodeScalars.count }.max() ?? 0
        guard letters.count <= longest + maximum else { return nil }
        var best: (name: String, distance: Int)? = nil
        for candidate in candidates {
            let distance = editDistance(letters, Array(candidate.unicodeScalars))
            if distance <= maximum, distance < (best?.distance ?? Int.max) { best = (candidate, distance) }
        }
        return best?.name
    }

    /// " (did you mean 'x'?)" or "".
    static func didYouMean(_ word: String, among candidates: [String]) -> String {
        guard let match = suggestion(for: word, among: candidates) else { return "" }
        return " (did you mean '\(match)'?)"
    }

    /// Levenshtein distance: insertions, deletions and substitutions.
    static func editDistance(_ a: [Unicode.Scalar], _ b: [Unicode.Scalar]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                let substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)
                current[j] = min(substitution, previous[j] + 1, current[j - 1] + 1)
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }

    /// "a, b or c".
    static func list(_ names: [String], conjunction: String = "or") -> String {
        guard names.count > 1 else { return names.first ?? "" }
        return names.dropLast().joined(separator: ", ") + " \(conjunction) " + names[names.count - 1]
    }
}
