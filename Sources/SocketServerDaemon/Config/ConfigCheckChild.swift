// The child of a configuration check: it becomes the workers' user, loads the plugins, checks the
// whole configuration against them and reports over a pipe (ConfigCheckWire.swift).
#if canImport(Glibc)
import Glibc
#endif

extension ConfigCheck {
    /// The child: become the daemon's user (plugin code never runs as root, and what workers
    /// open is checked with the workers' rights), check with the plugins loaded, report, exit.
    static func runChild(_ sources: ConfigSources, context: Context, broken: [String: String], reportingTo fd: Int32) -> Never {
        let (catalog, cpuCount, forRoot) = (context.catalog, context.cpuCount, context.forRoot)
        Logger.shared.level = .error
        // A plugin that crashes this process should end it quietly (the parent reports it), not
        // through the Swift runtime's backtracer, whose handler would even resume after raise().
        for fatal in [SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP] { signal(fatal, SIG_DFL) }
        var errors: [ConfigError] = []
        var loader: any PluginLoader = SkippingPluginLoader(broken: broken, loader: DynamicPluginLoader { plugin, activity in
            let message: ConfigCheckMessage = activity.map { .busy(plugin: plugin.name, location: plugin.location, activity: $0) } ?? .idle
            message.write(to: fd)
        })
        var daemon = DaemonConfig()
        var ignored = Diagnostics()
        DaemonSection.apply(sources.sections.filter { $0.kind == .daemon }, to: &daemon, forRoot: forRoot, diagnostics: &ignored)
        do {
            try Credentials.apply(Credentials.resolve(for: daemon))
        } catch {
            errors.append(ConfigError("plugins and the workers' files not checked: cannot become user "
                                      + "\(daemon.user ?? "nobody"): \(error)", at: nil))
            loader = DeferredPluginLoader()
        }
        do {
            _ = try ConfigValidator.validate(sources, catalog: catalog, plugins: loader, cpuCount: cpuCount, forRoot: forRoot)
        } catch {
            errors = error.errors + errors
        }
        for error in errors { ConfigCheckMessage.error(error).write(to: fd) }
        ConfigCheckMessage.done.write(to: fd)
        _exit(0)
    }
}

/// Reports the plugins that killed an earlier check as failed, and loads the rest.
struct SkippingPluginLoader: PluginLoader {
    let broken: [String: String]
    let loader: any PluginLoader

    func load(_ plugin: PluginConfig) -> PluginLoadResult {
        if let message = broken[plugin.name] { return .failed(message) }
        return loader.load(plugin)
    }
}
