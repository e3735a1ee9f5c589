// Checks shared by [daemon] and [service]: duplicate keys and unknown keys with a suggestion.

/// A section's keys, each once (the first occurrence wins; later ones are reported).
struct SectionKeys {
    private(set) var ordered: [RawEntry] = []
    private var byKey: [String: RawEntry] = [:]

    init(_ entries: [RawEntry], diagnostics: inout Diagnostics) {
        for entry in entries {
            if let first = byKey[entry.key] {
                diagnostics.add("duplicate key \(ConfigText.quoted(entry.key)) (first set at \(first.location))",
                                at: entry.location)
                continue
            }
            byKey[entry.key] = entry
            ordered.append(entry)
        }
    }

    subscript(key: String) -> RawEntry? { byKey[key] }

    /// Reports every key not in `known`: a key of another kind of section says where it belongs;
    /// otherwise the closest known key is suggested, or `hint` adds context.
    func reportUnknown(known: [String], hint: String = "", diagnostics: inout Diagnostics) {
        let knownSet = Set(known)
        for entry in ordered where !knownSet.contains(entry.key) {
            let suggestion = Self.belongsElsewhere(entry.key).map { " (it belongs in \($0))" }
                ?? ConfigText.didYouMean(entry.key, among: known)
            diagnostics.add("unknown key \(ConfigText.quoted(entry.key))" + (suggestion.isEmpty ? hint : suggestion),
                            at: entry.location)
        }
    }

    /// The section `key` is a key of ("[daemon]", "a [service NAME] section", …), if any.
    static func belongsElsewhere(_ key: String) -> String? {
        if DaemonSection.keys.contains(key) { return "[daemon]" }
        if ServiceValidation.commonKeys.contains(key) { return "a [service NAME] section" }
        if PluginSection.keys.contains(key) { return "a [plugin NAME] section" }
        return nil
    }
}
