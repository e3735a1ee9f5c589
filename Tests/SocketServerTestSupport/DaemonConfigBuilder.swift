// socketserverd.conf text for the integration tests: a [daemon] section, [plugin] sections and
// [service] sections, each service listening on a socket the test passes (socket activation) or
// on an address the daemon binds itself.
import SocketServer

/// Config keys and their values, in the order they are written.
public typealias ConfigKeys = KeyValuePairs<String, any CustomStringConvertible>

/// Where a service listens.
public enum Listen: Equatable {
    /// TCP on 127.0.0.1, on a port the kernel picks: the test binds it and passes it to the daemon.
    case tcp
    /// TCP on [::1] likewise (only where IPv6 loopback exists).
    case tcp6
    /// UDP on 127.0.0.1 likewise.
    case udp
    /// UDP on the port of the passed TCP socket of the service named.
    case udpBeside(String)
    /// An address the daemon binds itself: `unix:/path`, `unixgram:/path`, `tcp://127.0.0.1:7`.
    case address(String)

    /// An address the daemon binds itself: TCP on 127.0.0.1:`port`.
    public static func tcpPort(_ port: Int) -> Listen { .address("tcp://127.0.0.1:\(port)") }

    /// True if the test binds the socket and passes it.
    public var isPassed: Bool {
        if case .address = self { return false }
        return true
    }
}

/// One `[service NAME]` section.
public struct Service {
    public var name: String
    public var listen: Listen
    public var handler: String
    public var keys: [(String, String)]

    /// `[service name]`, `listen`, `handler` (the name when not given), then `keys` in order.
    public init(_ name: String, handler: String? = nil, listen: Listen = .tcp, _ keys: ConfigKeys = [:]) {
        self.name = name
        self.listen = listen
        self.handler = handler ?? name
        self.keys = keys.map { ($0.key, $0.value.description) }
    }

    /// The section's text, with `listenText` as its listen address.
    func text(listen listenText: String) -> String {
        (["[service \(name)]", "listen = \(listenText)", "handler = \(handler)"] + keys.map { "\($0.0) = \($0.1)" })
            .joined(separator: "\n") + "\n\n"
    }
}

/// A whole config: `[daemon]` keys, `[plugin NAME]` sections (`path = …`), the services, and any
/// raw text after them (a broken section for a reload test).
public struct DaemonConfigBuilder {
    public var daemon: [(String, String)]
    public var plugins: [(name: String, path: String)]
    public var services: [Service]
    public var trailer: String

    public init(daemon: ConfigKeys = [:], plugins: [(name: String, path: String)] = [], services: [Service], trailer: String = "") {
        self.daemon = daemon.map { ($0.key, $0.value.description) }
        self.plugins = plugins
        self.services = services
        self.trailer = trailer
    }

    /// Adds a `[daemon]` key (after those already there).
    public func adding(daemon key: String, _ value: any CustomStringConvertible) -> DaemonConfigBuilder {
        var copy = self
        copy.daemon.append((key, value.description))
        return copy
    }

    /// The config text; services the test passes a socket for listen on `ports[name]`.
    public func text(ports: [String: Int]) throws -> String {
        var text = ""
        if !daemon.isEmpty {
            text += "[daemon]\n" + daemon.map { "\($0.0) = \($0.1)\n" }.joined() + "\n"
        }
        for plugin in plugins { text += "[plugin \(plugin.name)]\npath = \(plugin.path)\n\n" }
        for service in services { text += service.text(listen: try Self.listenText(service, ports: ports)) }
        return text + trailer
    }

    static func listenText(_ service: Service, ports: [String: Int]) throws -> String {
        if case .address(let address) = service.listen { return address }
        guard let port = ports[service.name] else {
            throw TestFailure.setup("no passed socket for service \(service.name) (ports: \(ports))")
        }
        switch service.listen {
        case .tcp: return "tcp://127.0.0.1:\(port)"
        case .tcp6: return "tcp://[::1]:\(port)"
        case .udp, .udpBeside: return "udp://127.0.0.1:\(port)"
        case .address(let address): return address
        }
    }
}
