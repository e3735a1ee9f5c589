// The [daemon] section: who to run as, the pid file, timeouts, logging, plugins.

enum DaemonSection {
    /// Every key [daemon] accepts (`include` is handled while reading files).
    static let keys = ["user", "group", "pid_file", "graceful_timeout", "log_level", "include", "plugin_dir",
                              "log_file"]

    /// Applies the keys of every [daemon] section (several are merged, as when conf.d adds one).
    static func apply(_ sections: [RawSection], to config: inout DaemonConfig, forRoot: Bool,
                      diagnostics: inout Diagnostics) {
        let keys = SectionKeys(sections.flatMap(\.entries), diagnostics: &diagnostics)
        keys.reportUnknown(known: Self.keys, diagnostics: &diagnostics)

        if let entry = keys["user"], let name = account(entry, diagnostics: &diagnostics) {
            let account = Accounts.user(named: name)
            if forRoot, account == nil {
                diagnostics.add("user \(ConfigText.quoted(name)) does not exist", at: entry.location)
            }
            // Workers, request children, exec programs and plugin checks run as this user: they
            // run code and data from outside, and the master alone keeps root.
            if account?.uid == 0 {
                diagnostics.add("user \(ConfigText.quoted(name)) is root (uid 0); workers never run as root: "
                    + "name an unprivileged account (the default is nobody)", at: entry.location)
            }
            config.user = name
        }
        if let entry = keys["group"], let name = account(entry, diagnostics: &diagnostics) {
            if forRoot, !Accounts.groupExists(name) {
                diagnostics.add("group \(ConfigText.quoted(name)) does not exist", at: entry.location)
            }
            config.group = name
        }
        if let entry = keys["pid_file"] {
            config.pidFile = absolutePath(entry, diagnostics: &diagnostics)
        }
        if let entry = keys["log_file"] {
            config.logFile = absolutePath(entry, diagnostics: &diagnostics)
        }
        if let entry = keys["plugin_dir"] {
            config.pluginDirectory = absolutePath(entry, diagnostics: &diagnostics)
        }
        if let entry = keys["graceful_timeout"] {
            switch ConfigValues.seconds(entry.value, key: entry.key) {
            case .success(let duration): config.gracefulTimeout = duration
            case .failure(let problem): diagnostics.add(problem.message, at: entry.location)
            }
        }
        if let entry = keys["log_level"] {
            if let level = LogLevelName(rawValue: entry.value) {
                config.logLevel = level
            } else {
                let names = LogLevelName.allCases.map(\.rawValue)
                diagnostics.add("unknown log_level \(ConfigText.quoted(entry.value)) (expected "
                    + ConfigText.list(names) + ")" + ConfigText.didYouMean(entry.value, among: names),
                    at: entry.location)
            }
        }
    }

    private static func account(_ entry: RawEntry, diagnostics: inout Diagnostics) -> String? {
        guard !entry.value.isEmpty else {
            diagnostics.add("\(entry.key) is empty", at: entry.location)
            return nil
        }
        return entry.value
    }

    private static func absolutePath(_ entry: RawEntry, diagnostics: inout Diagnostics) -> String? {
        guard entry.value.hasPrefix("/") else {
            diagnostics.add("\(entry.key) must be an absolute path, got \(ConfigText.quoted(entry.value))",
                            at: entry.location)
            return nil
        }
        return entry.value
    }
}
