// The handler catalogue the daemon uses today: the built-in handlers.
import SocketServerHandlers

/// Looks handlers up among `BuiltinHandlers` (echo, discard, daytime, upper, upload).
public struct BuiltinCatalog: HandlerCatalog {
    public init() {}

    public func descriptor(named name: String) -> HandlerDescriptor? {
        BuiltinHandlers.named(name)
    }

    public var names: [String] { BuiltinHandlers.names }
}
