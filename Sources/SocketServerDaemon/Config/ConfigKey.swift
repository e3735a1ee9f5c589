// One row of the key table: a key's name, how its value parses, its default, what it applies to
// and its documentation. DaemonKeys, ServiceKeys and PluginKeys hold the rows; ConfigKeys lists them.

/// The kinds of section that take keys.
enum KeySection: String, Sendable, CaseIterable {
    case daemon, service, plugin

    /// As a section header in help and man page: `[daemon]`, `[service NAME]`, `[plugin NAME]`.
    var header: String { self == .daemon ? "[daemon]" : "[\(rawValue) NAME]" }
    /// As the end of "it belongs in …".
    var placement: String { self == .daemon ? "[daemon]" : "a \(header) section" }
}

/// The listener kinds, as `listen =` spells them.
enum ListenerKind: String, Sendable, CaseIterable {
    case tcp = "tcp://", udp = "udp://", unix = "unix:", unixgram = "unixgram:"

    init(_ address: ListenAddress) {
        switch address {
        case .tcp: self = .tcp
        case .udp: self = .udp
        case .unix: self = .unix
        case .unixgram: self = .unixgram
        }
    }
}

/// Which services a key is for; a key set where it does not apply is an error.
enum KeyScope: Sendable, Equatable {
    /// Every service (or the daemon, for a [daemon] key).
    case every
    /// Services on these listener kinds; `why` ends the error message, in parentheses.
    case listeners([ListenerKind], why: String?)
    /// Services whose handler is one of these, each declaring the key (and checking it).
    case handlers([String])

    /// For help: "" for `every`, else "tcp:// and udp:// listeners", "handler upload".
    var text: String {
        switch self {
        case .every: return ""
        case .listeners(let kinds, _): return ConfigText.list(kinds.map(\.rawValue), conjunction: "and") + " listeners"
        case .handlers(let names): return (names.count == 1 ? "handler " : "handlers ") + ConfigText.list(names, conjunction: "and")
        }
    }
}

/// What a key's value is checked against beyond its own text.
struct KeyContext: Sendable {
    /// The daemon starts as root: accounts named in [daemon] must exist.
    var forRoot = false
    /// The service's listener, when it parsed (scope checks are skipped without one).
    var listen: ListenAddress? = nil
}

/// How a key's default shows in help and in socketserverd.conf(5).
enum KeyDefault: Sendable, Equatable {
    /// A value as one would write it in the file (`30`, `threads`); it parses to the default.
    case value(String)
    /// What applies when the key is not set, in words ("the number of online CPUs", "none").
    case described(String)
    /// The section must set the key.
    case required
}

/// A row with its value's type erased: what the section parsers, the unknown-key hints and
/// `--help-config` use. `Target` is the config struct the section fills.
struct ConfigKey<Target>: Sendable {
    let name: String
    let defaultValue: KeyDefault
    let scope: KeyScope
    /// One line: what the key does.
    let doc: String
    /// Parses `entry`'s value and stores it in the target, or reports why it cannot.
    let apply: @Sendable (RawEntry, KeyContext, inout Target, inout Diagnostics) -> Void
    /// nil when the shown default parses to the default the target starts with; otherwise why not.
    let defaultProblem: @Sendable () -> String?
}

/// A typed row: `default` is the one place a key's default is written; the config struct's field
/// starts from it.
struct Setting<Target, Value: Equatable & Sendable>: Sendable {
    let name: String
    let kind: ValueKind<Value>
    let `default`: Value
    /// Shown instead of the default's text: what applies when the field's default (nil) is left,
    /// in words ("none") or as a value ("nobody").
    let shown: KeyDefault?
    let scope: KeyScope
    let doc: String
    let field: WritableKeyPath<Target, Value> & Sendable

    init(_ name: String, _ kind: ValueKind<Value>, default: Value, shown: KeyDefault? = nil, scope: KeyScope = .every,
         into field: WritableKeyPath<Target, Value> & Sendable, doc: String) {
        self.name = name
        self.kind = kind
        self.default = `default`
        self.shown = shown
        self.scope = scope
        self.doc = doc
        self.field = field
    }

    /// The row for the table: parses, stores, then checks the scope; its default must parse back.
    var row: ConfigKey<Target> {
        let (kind, name, fallback) = (kind, name, self.default)
        let overridden = shown != nil
        let shownDefault = shown ?? kind.format(fallback).map(KeyDefault.value) ?? .described("none")
        return .parsed(name, kind, defaultValue: shownDefault, scope: scope, into: field, doc: doc, defaultProblem: {
            guard case .value(let text) = shownDefault else { return nil }
            switch kind.parse(text, name, KeyContext()) {
            case .success(let value):
                return overridden || value == fallback ? nil : "'\(text)' parses to \(value), not \(fallback)"
            case .failure(let problems): return problems.list.map(\.message).joined(separator: "; ")
            }
        })
    }
}

extension ConfigKey {
    /// A row whose value `kind` parses into `field`; for keys whose default is not one value
    /// (`workers`: the number of CPUs), with no typed default to check.
    static func parsed<Value>(_ name: String, _ kind: ValueKind<Value>, defaultValue: KeyDefault, scope: KeyScope = .every,
                              into field: WritableKeyPath<Target, Value> & Sendable, doc: String,
                              defaultProblem: @escaping @Sendable () -> String? = { nil }) -> ConfigKey {
        ConfigKey(name: name, defaultValue: defaultValue, scope: scope, doc: doc, apply: { entry, context, target, diagnostics in
            switch kind.parse(entry.value, entry.key, context) {
            case .success(let value): target[keyPath: field] = value
            case .failure(let problems):
                for problem in problems.list { diagnostics.add(problem.message, at: entry.location) }
            }
            checkScope(scope, entry, context, &diagnostics)
        }, defaultProblem: defaultProblem)
    }

    /// "KEY applies only to tcp:// and udp:// listeners (why)" when the listener is of another kind.
    static func checkScope(_ scope: KeyScope, _ entry: RawEntry, _ context: KeyContext, _ diagnostics: inout Diagnostics) {
        guard case .listeners(let kinds, let why) = scope, let listen = context.listen,
              !kinds.contains(ListenerKind(listen)) else { return }
        diagnostics.add("\(entry.key) applies only to \(scope.text)" + (why.map { " (\($0))" } ?? ""), at: entry.location)
    }
}

extension ConfigKey {
    /// A row whose value another part of the loader reads first (`listen`, `handler`: they decide
    /// which keys apply; `include`: files are spliced in as they are read).
    static func readFirst(_ name: String, defaultValue: KeyDefault, doc: String) -> ConfigKey {
        ConfigKey(name: name, defaultValue: defaultValue, scope: .every, doc: doc, apply: { _, _, _, _ in },
                  defaultProblem: { nil })
    }
}
