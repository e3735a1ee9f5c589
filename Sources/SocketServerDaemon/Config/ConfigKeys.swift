// The whole key table: the rows of [daemon], [service] and [plugin], and the keys the built-in
// handlers declare, as one list for "it belongs in" hints, `--help-config` and the man page test.
import SocketServerHandlers

enum ConfigKeys {
    /// One key as help lists it.
    struct Entry: Equatable, Sendable {
        let section: KeySection
        let name: String
        let defaultValue: KeyDefault
        let scope: KeyScope
        let doc: String
    }

    /// Every key, section by section; a service's handler keys follow its own keys.
    static func entries(handlers: [HandlerDescriptor] = BuiltinHandlers.all) -> [Entry] {
        DaemonKeys.rows.map { entry($0, in: .daemon) } + ServiceKeys.rows.map { entry($0, in: .service) }
            + handlerEntries(handlers) + PluginKeys.rows.map { entry($0, in: .plugin) }
    }

    /// The section whose own rows hold `key` (handler keys excluded: any service may take them).
    static func section(of key: String) -> KeySection? {
        if DaemonKeys.rows.contains(where: { $0.name == key }) { return .daemon }
        if ServiceKeys.names.contains(key) { return .service }
        if PluginKeys.names.contains(key) { return .plugin }
        return nil
    }

    /// Why a key's shown default is not its default, for every key where it is not (empty when all
    /// is well). A handler key's default is checked by the handler's own validation.
    static func defaultProblems(handlers: [HandlerDescriptor] = BuiltinHandlers.all) -> [String] {
        var problems: [String] = []
        func check<Target>(_ rows: [ConfigKey<Target>]) {
            for row in rows { if let problem = row.defaultProblem() { problems.append("\(row.name): \(problem)") } }
        }
        check(DaemonKeys.rows)
        check(ServiceKeys.rows)
        check(PluginKeys.rows)
        for descriptor in handlers {
            let defaults = descriptor.keys.compactMapValues { $0 }
            for (key, problem) in descriptor.validate(defaults) where defaults[key] != nil {
                problems.append("\(key) (handler \(descriptor.name)): \(problem)")
            }
        }
        return problems
    }

    private static func entry<Target>(_ row: ConfigKey<Target>, in section: KeySection) -> Entry {
        Entry(section: section, name: row.name, defaultValue: row.defaultValue, scope: row.scope, doc: row.doc)
    }

    /// One entry per handler key; a key several handlers declare (`command`, `directory`) is one
    /// entry naming them all, with one default and doc when they agree, each handler's otherwise.
    private static func handlerEntries(_ handlers: [HandlerDescriptor]) -> [Entry] {
        var order: [String] = []
        var owners: [String: [HandlerDescriptor]] = [:]
        for descriptor in handlers {
            for key in descriptor.keys.keys.sorted() {
                if owners[key] == nil { order.append(key) }
                owners[key, default: []].append(descriptor)
            }
        }
        return order.map { key in
            let declaring = owners[key] ?? []
            let defaults = declaring.map { descriptor in
                descriptor.keys[key].flatMap { $0 }.map { $0.isEmpty ? KeyDefault.described("none") : .value($0) } ?? .required
            }
            let docs = declaring.map { $0.keyDocs[key] ?? "" }
            let names = declaring.map(\.name)
            let defaultValue = defaults.allSatisfy({ $0 == defaults[0] }) ? defaults[0]
                : .described(zip(names, defaults).map { name, value in
                    switch value {
                    case .value(let text): return "\(text) for \(name)"
                    case .described(let words): return "\(words) for \(name)"
                    case .required: return "required for \(name)"
                    }
                }.joined(separator: ", "))
            let doc = docs.allSatisfy({ $0 == docs[0] }) ? docs[0]
                : zip(names, docs).map { "\($0): \($1)" }.joined(separator: "; ")
            return Entry(section: .service, name: key, defaultValue: defaultValue, scope: .handlers(names), doc: doc)
        }
    }
}
