// What the config loader knows about handlers: the names `handler =` may give, and their descriptors.
import SocketServerHandlers

/// Looks up handlers by the name a service gives in `handler =` (the daemon's is `DaemonCatalog`).
public protocol HandlerCatalog: Sendable {
    func descriptor(named name: String) -> HandlerDescriptor?
    /// Every name, for "unknown handler (known: …)" messages.
    var names: [String] { get }
}
