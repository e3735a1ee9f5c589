// What a service's `handler =` may name: a built-in handler, or PLUGIN.HANDLER from a [plugin].
import SocketServerHandlers

/// The handlers a configuration offers: the catalogue's, and those of each declared plugin.
struct ServiceHandlers {
    let catalog: any HandlerCatalog
    /// Each declared plugin with what loading it gave, by name.
    let plugins: [String: (config: PluginConfig, result: PluginLoadResult)]

    enum Lookup {
        /// A known handler (for a plugin handler, named `PLUGIN.HANDLER`, with its plugin).
        case found(HandlerDescriptor, plugin: PluginConfig?)
        /// A handler of a plugin this process does not load: its name and keys are taken on trust.
        case deferred(PluginConfig)
        /// No usable handler; the problem is already reported.
        case unavailable
    }

    init(catalog: any HandlerCatalog, plugins: [PluginConfig], loader: any PluginLoader,
         diagnostics: inout Diagnostics) {
        self.catalog = catalog
        var loaded: [String: (config: PluginConfig, result: PluginLoadResult)] = [:]
        for plugin in plugins {
            let result = loader.load(plugin)
            if case .failed(let message) = result { diagnostics.add(message, at: plugin.location) }
            loaded[plugin.name] = (plugin, result)
        }
        self.plugins = loaded
    }

    /// Looks `name` up, reporting an unknown name at `location`.
    func lookup(_ name: String, at location: SourceLocation, diagnostics: inout Diagnostics) -> Lookup {
        guard let dot = name.firstIndex(of: ".") else {
            if let descriptor = catalog.descriptor(named: name) { return .found(descriptor, plugin: nil) }
            let known = catalog.names.sorted()
            diagnostics.add("unknown handler \(ConfigText.quoted(name))" + ConfigText.didYouMean(name, among: known)
                + " (known handlers: \(known.joined(separator: ", ")))", at: location)
            return .unavailable
        }
        let pluginName = String(name[..<dot])
        let handlerName = String(name[name.index(after: dot)...])
        guard let (config, result) = plugins[pluginName] else {
            let declared = plugins.keys.sorted()
            diagnostics.add("handler \(ConfigText.quoted(name)) names plugin \(ConfigText.quoted(pluginName)), "
                + "but no [plugin \(pluginName)] section declares it" + ConfigText.didYouMean(pluginName, among: declared)
                + (declared.isEmpty ? "" : " (declared plugins: \(declared.joined(separator: ", ")))"), at: location)
            return .unavailable
        }
        switch result {
        case .failed:
            return .unavailable
        case .deferred:
            return .deferred(config)
        case .loaded(let descriptors):
            guard let descriptor = descriptors.first(where: { $0.name == handlerName }) else {
                let names = descriptors.map(\.name).sorted()
                diagnostics.add("plugin \(ConfigText.quoted(pluginName)) (\(config.path)) has no handler "
                    + ConfigText.quoted(handlerName) + ConfigText.didYouMean(handlerName, among: names)
                    + " (its handlers: \(names.joined(separator: ", ")))", at: location)
                return .unavailable
            }
            return .found(HandlerDescriptor(name: name, stream: descriptor.stream, datagram: descriptor.datagram,
                                            events: descriptor.events, keys: descriptor.keys, validate: descriptor.validate),
                          plugin: config)
        }
    }
}
