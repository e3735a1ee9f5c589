// What every section does with its keys: duplicates, unknown keys with a suggestion, and each
// row of the key table applied to the key it names.

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

    /// Where `key` belongs ("[daemon]", "a [service NAME] section", …), if it is a section's key.
    static func belongsElsewhere(_ key: String) -> String? {
        ConfigKeys.section(of: key)?.placement
    }

    /// Applies each row whose key the section sets, in the rows' order.
    func apply<Target>(_ rows: [ConfigKey<Target>], to target: inout Target, context: KeyContext,
                       diagnostics: inout Diagnostics) {
        for row in rows {
            if let entry = byKey[row.name] { row.apply(entry, context, &target, &diagnostics) }
        }
    }
}
