// The handler catalogue the daemon, its tests and the fuzzer use: the built-in handlers, and a
// stand-in for every plugin handler.
import SocketServerHandlers

/// Looks `handler =` names up: a plain name among `BuiltinHandlers` (echo, discard, daytime,
/// upper, upload, exec); a `PLUGIN.HANDLER` name gets the plugin bridges, so that the master can
/// start a plugin service's workers without loading the plugin (each worker loads it and binds
/// the handler, see `PluginWorker`). The config loader resolves `PLUGIN.HANDLER` names against
/// the declared plugins itself and asks this catalogue only for plain names.
public struct DaemonCatalog: HandlerCatalog {
    public init() {}

    public func descriptor(named name: String) -> HandlerDescriptor? {
        guard name.contains(".") else { return BuiltinHandlers.named(name) }
        return HandlerDescriptor(name: name, stream: PluginStreamBridge.self, datagram: PluginDatagramBridge.self)
    }

    /// The built-in handlers' names (plugin handlers are named by their [plugin] sections).
    public var names: [String] { BuiltinHandlers.names }
}
