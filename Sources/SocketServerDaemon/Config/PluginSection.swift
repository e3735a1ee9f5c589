// [plugin NAME] sections: a handler plugin's name and the path of its shared library.

/// One `[plugin NAME]` section: services use its handlers as `handler = NAME.HANDLER`.
public struct PluginConfig: Hashable, Sendable {
    public var name: String
    /// Absolute: `path` as written, or resolved against `[daemon] plugin_dir`.
    public var path: String
    /// The `path =` line, where every problem with the file is reported.
    public var location: SourceLocation

    public init(name: String, path: String, location: SourceLocation) {
        self.name = name
        self.path = path
        self.location = location
    }
}

/// The [plugin NAME] keys.
enum PluginKeys {
    /// Read by PluginSection.validate, which resolves it against `plugin_dir`.
    static let path = ConfigKey<PluginConfig>.readFirst(
        "path", defaultValue: .required, doc: "the plugin's shared library; a relative path is found in plugin_dir")

    /// Every key a [plugin] section takes.
    static let rows = [path]
    static let names = rows.map(\.name)
}

enum PluginSection {
    /// Checks every [plugin] section; returns the valid ones in the order written.
    static func validate(_ sections: [RawSection], pluginDirectory: String?,
                         diagnostics: inout Diagnostics) -> [PluginConfig] {
        var plugins: [PluginConfig] = []
        var names = SectionNames(kind: "plugin")
        for section in sections {
            guard case .plugin(let name) = section.kind else { continue }
            let keys = SectionKeys(section.entries, diagnostics: &diagnostics)
            keys.reportUnknown(known: PluginKeys.names, hint: " ([plugin] takes only 'path'; the plugin's own keys go in the "
                + "[service] sections that use it)", diagnostics: &diagnostics)
            var valid = names.claim(name, at: section.location, diagnostics: &diagnostics)
            if !isValidName(name) {
                diagnostics.add("plugin name \(ConfigText.quoted(name)) may only contain letters, digits, '_' and '-' "
                    + "(services name its handlers as PLUGIN.HANDLER)", at: section.location)
                valid = false
            }
            guard let entry = keys["path"] else {
                diagnostics.add("plugin \(ConfigText.quoted(name)) is missing the required key 'path'", at: section.location)
                continue
            }
            guard !entry.value.isEmpty else {
                diagnostics.add("path is empty (the plugin's shared library, such as lib\(name).so)", at: entry.location)
                continue
            }
            guard valid else { continue }
            let path = entry.value.hasPrefix("/")
                ? entry.value
                : ConfigFiles.resolve(entry.value, relativeTo: pluginDirectory ?? DaemonKeys.defaultPluginDirectory)
            plugins.append(PluginConfig(name: name, path: path, location: entry.location))
        }
        return plugins
    }

    /// Letters, digits, `_` and `-`: no dot, so that `PLUGIN.HANDLER` splits at the first one.
    static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.allSatisfy { byte in
            (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte)
                || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
        }
    }
}
