// From raw sections to a DaemonConfig: [daemon], each service, duplicate names, address conflicts
// (between services, and with the metrics listener).

enum ConfigValidator {
    static func validate(_ sources: ConfigSources, catalog: any HandlerCatalog, plugins loader: any PluginLoader,
                         cpuCount: Int, forRoot: Bool) throws(ConfigErrors) -> DaemonConfig {
        var diagnostics = sources.diagnostics
        var config = DaemonConfig()
        config.files = sources.files

        let daemonSections = sources.sections.filter { $0.kind == .daemon }
        DaemonSection.apply(daemonSections, to: &config, forRoot: forRoot, diagnostics: &diagnostics)
        config.plugins = PluginSection.validate(sources.sections, pluginDirectory: config.pluginDirectory,
                                                diagnostics: &diagnostics)
        let handlers = ServiceHandlers(catalog: catalog, plugins: config.plugins, loader: loader,
                                       diagnostics: &diagnostics)

        var services = SectionNames(kind: "service")
        var claims: [ListenConflicts.Claim] = []
        for section in sources.sections {
            guard case .service(let name) = section.kind else { continue }
            let isFirst = services.claim(name, at: section.location, diagnostics: &diagnostics)
            let outcome = ServiceValidation.validate(section, name: name, handlers: handlers, cpuCount: cpuCount,
                                                     diagnostics: &diagnostics)
            guard isFirst else { continue }
            if let listen = outcome.listen {
                claims.append(.init(service: name, address: listen.address, location: listen.location))
            }
            if let service = outcome.service { config.services.append(service) }
        }
        if let metrics = config.metrics, let entry = metricsEntry(sources) {
            claims.append(.init(service: "", address: metrics, location: entry.location, key: entry.key))
        }
        ListenConflicts.check(claims, diagnostics: &diagnostics)
        if case .path(let control) = config.controlSocket {
            for claim in claims where [.unix(path: control), .unixgram(path: control)].contains(claim.address) {
                diagnostics.add("listen \(claim.address) is the path of [daemon] control_socket", at: claim.location)
            }
        }
        // A truncated or half-written file would otherwise close every listener on reload. (With
        // other errors the configuration is refused already; a missing service may be one of them.)
        if let main = sources.files.first, services.isEmpty, diagnostics.isEmpty {
            diagnostics.add("\(main): no [service NAME] section in it or in the files it includes; "
                + "a configuration that serves nothing is refused (is the file truncated or half written?)", at: nil)
        }

        guard diagnostics.isEmpty else {
            throw ConfigErrors(diagnostics.sorted(fileOrder: sources.files).map { withCommentHint($0, sources) })
        }
        return config
    }

    /// The `metrics =` line of the [daemon] sections (the first: a later one is a duplicate).
    static func metricsEntry(_ sources: ConfigSources) -> RawEntry? {
        sources.sections.lazy.filter { $0.kind == .daemon }.flatMap(\.entries).first { $0.key == DaemonKeys.metrics.name }
    }

    /// `error` with a hint when its line's value holds a `;` or `#` that the writer may have meant
    /// as a comment: one starts only at the beginning of a line or after whitespace.
    private static func withCommentHint(_ error: ConfigError, _ sources: ConfigSources) -> ConfigError {
        guard let location = error.location, let value = sources.unspacedComments[location],
              let marker = value.firstIndex(where: { $0 == ";" || $0 == "#" }) else { return error }
        var hinted = error
        hinted.message += " (if \(ConfigText.quoted(value[marker...])) is meant as a comment, "
            + "it needs a space before '\(value[marker])')"
        return hinted
    }
}

/// The first `[KIND NAME]` section of each name, so that a second one of the same name is reported.
struct SectionNames {
    /// `service` or `plugin`, as in the section header.
    let kind: String
    private var firstLocations: [String: SourceLocation] = [:]

    init(kind: String) {
        self.kind = kind
    }

    var isEmpty: Bool { firstLocations.isEmpty }

    /// Notes the section `name` at `location`: true for the first of that name; false, with an
    /// error at `location`, for a later one.
    mutating func claim(_ name: String, at location: SourceLocation, diagnostics: inout Diagnostics) -> Bool {
        if let first = firstLocations[name] {
            diagnostics.add("duplicate \(kind) \(ConfigText.quoted(name)) (first defined at \(first))", at: location)
            return false
        }
        firstLocations[name] = location
        return true
    }
}
