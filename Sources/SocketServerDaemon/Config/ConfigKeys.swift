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
        DaemonKeys.rows.map { entry($0, in: .daemon) } + serviceEntries(handlers) + PluginKeys.rows.map { entry($0, in: .plugin) }
    }

    /// The section whose own rows hold `key` (handler keys, and service keys for one handler,
    /// excluded: a service may take them or not, by its handler).
    static func section(of key: String) -> KeySection? {
        if DaemonKeys.rows.contains(where: { $0.name == key }) { return .daemon }
        if ServiceKeys.commonNames.contains(key) { return .service }
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

    private static func handlerEntries(_ handlers: [HandlerDescriptor]) -> [Entry] {
        handlers.flatMap { descriptor in
            descriptor.keys.keys.sorted().map { key in
                let defaultText = descriptor.keys[key].flatMap { $0 }
                return Entry(section: .service, name: key, defaultValue: defaultText.map(KeyDefault.value) ?? .required,
                             scope: .handler(descriptor.name), doc: descriptor.keyDocs[key] ?? "")
            }
        }
    }

    /// The service entries and the handler entries, each key listed once: a service key for one
    /// handler that another handler also declares (exec's `directory`, upload's `directory`) is
    /// told in that handler's entry, after its own doc.
    private static func serviceEntries(_ handlers: [HandlerDescriptor]) -> [Entry] {
        var handlerKeys = handlerEntries(handlers)
        var rows: [Entry] = []
        for row in ServiceKeys.rows {
            let entry = entry(row, in: .service)
            if case .handler(let name) = row.scope, let index = handlerKeys.firstIndex(where: { $0.name == row.name }) {
                let shared = handlerKeys[index]
                handlerKeys[index] = Entry(section: .service, name: shared.name, defaultValue: shared.defaultValue,
                                           scope: shared.scope, doc: shared.doc + "; for handler \(name): " + row.doc)
            } else {
                rows.append(entry)
            }
        }
        return rows + handlerKeys
    }
}
