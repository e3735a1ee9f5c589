// `socketserverd --help-config`: every key of the table, per section, with its default, what it
// applies to and what it does.
import SocketServerHandlers

enum ConfigHelp {
    static func text(handlers: [HandlerDescriptor] = BuiltinHandlers.all) -> String {
        var lines = [
            "Configuration keys by section (socketserverd.conf(5) is the full reference).",
            "KEY = VALUE gives the default as it would be written; otherwise the parentheses say what",
            "applies when the key is not set. [for ...] names the services a key applies to.",
        ]
        let entries = ConfigKeys.entries(handlers: handlers)
        for section in KeySection.allCases {
            lines.append("")
            lines.append(section.header)
            for entry in entries where entry.section == section {
                lines.append("  " + heading(entry))
                if !entry.doc.isEmpty { lines.append("      " + entry.doc) }
            }
            if section == .service {
                lines.append("  (a PLUGIN.HANDLER handler adds the keys its plugin declares)")
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// `timeout = 30`, `listen (required)`, `allow (default: everyone) [for tcp:// and udp:// listeners]`.
    static func heading(_ entry: ConfigKeys.Entry) -> String {
        var text = entry.name
        switch entry.defaultValue {
        case .value(let value): text += " = " + value
        case .described(let words): text += " (default: \(words))"
        case .required: text += " (required)"
        }
        if entry.scope != .every { text += " [for \(entry.scope.text)]" }
        return text
    }
}
