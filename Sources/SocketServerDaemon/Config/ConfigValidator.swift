// From raw sections to a DaemonConfig: [daemon], each service, duplicate names, address conflicts.

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

        var firstDefinition: [String: SourceLocation] = [:]
        var claims: [ListenConflicts.Claim] = []
        for section in sources.sections {
            guard case .service(let name) = section.kind else { continue }
            var duplicate = false
            if let first = firstDefinition[name] {
                diagnostics.add("duplicate service \(ConfigText.quoted(name)) (first defined at \(first))",
                                at: section.location)
                duplicate = true
            } else {
                firstDefinition[name] = section.location
            }
            let outcome = ServiceValidation.validate(section, name: name, handlers: handlers, cpuCount: cpuCount,
                                                     diagnostics: &diagnostics)
            guard !duplicate else { continue }
            if let listen = outcome.listen {
                claims.append(.init(service: name, address: listen.address, location: listen.location))
            }
            if let service = outcome.service { config.services.append(service) }
        }
        ListenConflicts.check(claims, diagnostics: &diagnostics)

        guard diagnostics.isEmpty else { throw ConfigErrors(diagnostics.sorted(fileOrder: sources.files)) }
        return config
    }
}
