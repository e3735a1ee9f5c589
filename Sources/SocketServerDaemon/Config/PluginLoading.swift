// How the config loader learns what a plugin offers: load it (checking child, --check-config,
// workers) or take it on trust (the master, which must never load plugin code).
import SocketServerHandlers

/// What loading one plugin gave.
public enum PluginLoadResult: Sendable {
    /// Its handlers; each descriptor is named by the handler's own name (`hello`, not `greet.hello`).
    case loaded([HandlerDescriptor])
    /// Not loaded in this process: services may name any of its handlers with any keys. Used by the
    /// master, after a forked child has loaded and checked the same configuration.
    case deferred
    /// It cannot be used; the message says why and is reported at the plugin's `path =` line.
    case failed(String)
}

/// Loads the plugins a configuration declares.
public protocol PluginLoader: Sendable {
    func load(_ plugin: PluginConfig) -> PluginLoadResult
}

/// The master's loader: loads nothing (see `PluginLoadResult.deferred`).
public struct DeferredPluginLoader: PluginLoader {
    public init() {}
    public func load(_ plugin: PluginConfig) -> PluginLoadResult { .deferred }
}
