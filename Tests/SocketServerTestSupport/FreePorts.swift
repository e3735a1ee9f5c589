// Ports found free, for the few addresses a test needs the daemon itself to bind (a port a reload
// adds, a port below 1024 bound with a capability). Another process may take such a port between
// the probe and the daemon's bind; everywhere else tests pass bound sockets (PassedSockets).
import Foundation
import SocketServer
import XCTest

/// A port that was free for TCP and UDP a moment ago (bound with port 0, then released). Ports
/// handed out are remembered so two calls in one run never return the same one.
public func freePort() -> Int {
    while true {
        guard let tcp = try? PassedSockets.bind(.inet(host: "127.0.0.1", port: 0), type: .stream),
              let port = (try? tcp.getSockName())?.port else { continue }
        defer { tcp.close() }
        guard let udp = try? PassedSockets.bind(.inet(host: "127.0.0.1", port: port), type: .datagram) else { continue }
        udp.close()
        if PortLedger.shared.claim(Int(port)) { return Int(port) }
    }
}

/// The first port from 700 to 999 that nothing is bound to right now (binding it needs root or
/// CAP_NET_BIND_SERVICE); a skip if there is none.
public func freeLowPort() throws -> Int {
    for port in 700..<1000 {
        guard let socket = try? Socket(family: .inet, type: .stream) else { continue }
        defer { socket.close() }
        if (try? socket.bind(.inet(host: "127.0.0.1", port: port))) != nil, PortLedger.shared.claim(port) { return port }
    }
    throw XCTSkip("no free TCP port from 700 to 999")
}

/// The ports handed out in this run.
final class PortLedger: @unchecked Sendable {
    static let shared = PortLedger()
    private var used: Set<Int> = []
    private let lock = NSLock()
    func claim(_ port: Int) -> Bool { lock.withLock { used.insert(port).inserted } }
}
