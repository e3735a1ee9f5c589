// The listening sockets a test binds for its daemon and hands over by socket activation
// (LISTEN_FDS), so that no port is chosen free and then raced for: the kernel picks each port
// and the socket holding it goes to the daemon.
import Glibc
import SocketServer

/// Sockets bound on loopback ports the kernel picked, one for each service that listens on one.
public final class PassedSockets {
    public private(set) var bound: [(service: String, socket: Socket, port: Int)] = []

    /// Binds what `services` need; a UDP socket beside a TCP one takes its port (tried again with
    /// fresh ports if that port's UDP side is taken).
    public init(for services: [Service]) throws {
        for attempt in 1...20 {
            do {
                try bindAll(services)
                return
            } catch let error as SocketError where error.errno == EADDRINUSE && attempt < 20 {
                close()
            }
        }
    }

    private func bindAll(_ services: [Service]) throws {
        for service in services where service.listen.isPassed {
            let socket: Socket
            switch service.listen {
            case .tcp:
                socket = try Self.bind(.inet(host: "127.0.0.1", port: 0), type: .stream)
            case .tcp6:
                socket = try Self.bind(.inet6(host: "::1", port: 0), type: .stream)
            case .udp:
                socket = try Self.bind(.inet(host: "127.0.0.1", port: 0), type: .datagram)
            case .udpBeside(let other):
                guard let port = ports[other] else {
                    throw SocketError.invalidAddress("service \(service.name): no passed socket of service \(other) to sit beside")
                }
                socket = try Self.bind(.inet(host: "127.0.0.1", port: port), type: .datagram)
            case .address:
                continue
            }
            guard let port = try socket.getSockName().port else {
                throw SocketError.invalidAddress("service \(service.name): bound socket without a port")
            }
            bound.append((service.name, socket, Int(port)))
        }
    }

    /// A socket bound to `address` (and listening, for streams).
    static func bind(_ address: SocketAddress, type: SocketType) throws -> Socket {
        let socket = try Socket(family: address.family, type: type)
        if address.family == .inet6 { try socket.setOption(.ipv6Only, true) }
        try socket.bind(address)
        if type == .stream { try socket.listen(1024) }
        return socket
    }

    /// Port by service name.
    public var ports: [String: Int] { Dictionary(bound.map { ($0.service, $0.port) }, uniquingKeysWith: { first, _ in first }) }

    /// The descriptors to pass, in order (fds 3, 4, … in the daemon).
    public var descriptors: [Int32] { bound.map { $0.socket.fileno() } }

    /// Closes the test's copies (the daemon holds its own once started): the ports are then free
    /// again when the daemon lets them go.
    public func close() {
        for entry in bound { entry.socket.close() }
        bound = []
    }
}
