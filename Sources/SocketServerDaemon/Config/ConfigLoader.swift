// The loader's entry points: read a config file (and its includes), check it, build a DaemonConfig.

/// Loads and validates the daemon's configuration, like `nginx -t`: every problem in every file is
/// collected and thrown together, each as `file:line: message`.
public enum ConfigLoader {
    /// Reads `path` and the files it includes.
    /// - Parameters:
    ///   - catalog: the handlers `handler =` may name.
    ///   - cpuCount: the default for `workers`.
    ///   - forRoot: true when the daemon starts as root, so `user`/`group` must exist and every
    ///     config file and its directory must be root's.
    ///   - plugins: how `[plugin]` sections are loaded; by default they are not (`DeferredPluginLoader`).
    public static func load(path: String, catalog: any HandlerCatalog, plugins: any PluginLoader = DeferredPluginLoader(),
                            cpuCount: Int, forRoot: Bool = false) throws(ConfigErrors) -> DaemonConfig {
        let sources = ConfigSources.load(path: path, forRoot: forRoot)
        return try ConfigValidator.validate(sources, catalog: catalog, plugins: plugins, cpuCount: cpuCount, forRoot: forRoot)
    }

    /// Checks `text` as if it were the file at `file`; includes are relative to `file`'s directory.
    public static func parse(text: String, file: String, catalog: any HandlerCatalog,
                             plugins: any PluginLoader = DeferredPluginLoader(), cpuCount: Int,
                             forRoot: Bool = false) throws(ConfigErrors) -> DaemonConfig {
        try parse(bytes: Array(text.utf8), file: file, catalog: catalog, plugins: plugins, cpuCount: cpuCount, forRoot: forRoot)
    }

    /// `parse(text:…)` for raw bytes, which need not be UTF-8 (for tests and fuzzing).
    public static func parse(bytes: [UInt8], file: String, catalog: any HandlerCatalog,
                      plugins: any PluginLoader = DeferredPluginLoader(), cpuCount: Int,
                      forRoot: Bool = false) throws(ConfigErrors) -> DaemonConfig {
        let sources = ConfigSources.parse(bytes: bytes, file: file, forRoot: forRoot)
        return try ConfigValidator.validate(sources, catalog: catalog, plugins: plugins, cpuCount: cpuCount, forRoot: forRoot)
    }
}
