// What the config loader knows about handlers: the built-ins now, plugins later.
import SocketServerHandlers

/// Looks up handlers by the name a service gives in `handler =`.
public protocol HandlerCatalog: Sendable {
    func descriptor(named name: String) -> HandlerDescriptor?
    /// Every name, for "unknown handler (known: …)" messages.
    var names: [String] { get }
}
