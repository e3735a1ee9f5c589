// The [daemon] section: every row of DaemonKeys applied to the keys it sets.

enum DaemonSection {
    /// Applies the keys of every [daemon] section (several are merged, as when conf.d adds one).
    static func apply(_ sections: [RawSection], to config: inout DaemonConfig, forRoot: Bool,
                      diagnostics: inout Diagnostics) {
        let keys = SectionKeys(sections.flatMap(\.entries), diagnostics: &diagnostics)
        keys.reportUnknown(known: DaemonKeys.rows.map(\.name), diagnostics: &diagnostics)
        keys.apply(DaemonKeys.rows, to: &config, context: KeyContext(forRoot: forRoot), diagnostics: &diagnostics)
    }
}
