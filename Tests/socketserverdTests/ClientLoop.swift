// A client hammering a service from a background thread, counting every failure.
import Foundation
import SocketServer

/// Runs echo round trips (a new connection each) until stopped; records failures with their errors.
final class ClientLoop: @unchecked Sendable {
    private let lock = NSLock()
    private var running = true
    private(set) var successes = 0
    private(set) var failures: [String] = []
    private let finished = DispatchSemaphore(value: 0)

    /// Echo round trips; with `message: nil`, upload round trips of a one-byte file instead.
    init(port: Int, message fixed: String? = "") {
        Thread.detachNewThread { [self] in
            var index = 0
            while lock.withLock({ running }) {
                index += 1
                let message = fixed == nil ? "OK" : "loop \(index)\n"
                do {
                    let reply = fixed == nil ? try uploadRoundTrip(port: port, name: "f\(index % 8)") : try tcpRoundTrip(port: port, message)
                    lock.withLock {
                        if reply == message { successes += 1 } else { failures.append("#\(index): got \(reply.debugDescription)") }
                    }
                } catch {
                    lock.withLock { failures.append("#\(index): \(error)") }
                }
            }
            finished.signal()
        }
    }

    /// Waits until at least `count` more round trips succeeded (or the timeout passed).
    func waitForSuccesses(_ count: Int, timeout: TimeInterval = 15) {
        let target = lock.withLock { successes } + count
        let deadline = Date().addingTimeInterval(timeout)
        while lock.withLock({ successes }) < target, Date() < deadline { usleep(5_000) }
    }

    /// Stops the loop and returns (successes, failures).
    func stop() -> (Int, [String]) {
        lock.withLock { running = false }
        finished.wait()
        return lock.withLock { (successes, failures) }
    }
}

/// Uploads a one-byte file; returns the reply's first word ("OK" or "ERR").
func uploadRoundTrip(port: Int, name: String) throws -> String {
    let socket = try createConnection(host: "127.0.0.1", port: port, timeout: .seconds(5))
    defer { socket.close() }
    let header = Array(#"{"cmd":"put","filename":"\#(name)","filesize":1}"#.utf8)
    try socket.sendAll(withUnsafeBytes(of: UInt32(header.count).littleEndian) { Array($0) } + header + [65])
    return String(decoding: try socket.recv(200), as: UTF8.self).split(separator: " ").first.map(String.init) ?? ""
}
