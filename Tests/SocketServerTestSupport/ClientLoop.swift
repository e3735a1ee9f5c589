// A client hammering a service from a background thread, counting every failure.
import Foundation
import SocketServer

/// Runs round trips (a new connection each) until stopped; records failures with their errors.
public final class ClientLoop: @unchecked Sendable {
    private let lock = NSLock()
    private var running = true
    private var successCount = 0
    private var failureList: [String] = []
    private let finished = DispatchSemaphore(value: 0)

    /// Echo round trips; with `message: nil`, upload round trips of a one-byte file instead.
    public init(port: Int, message fixed: String? = "") {
        Thread.detachNewThread { [self] in
            var index = 0
            while lock.withLock({ running }) {
                index += 1
                let message = fixed == nil ? "OK" : "loop \(index)\n"
                do {
                    let reply = fixed == nil ? try uploadRoundTrip(port: port, name: "f\(index % 8)") : try tcpRoundTrip(port: port, message)
                    lock.withLock {
                        if reply == message { successCount += 1 } else { failureList.append("#\(index): got \(reply.debugDescription)") }
                    }
                } catch {
                    lock.withLock { failureList.append("#\(index): \(error)") }
                }
            }
            finished.signal()
        }
    }

    public var successes: Int { lock.withLock { successCount } }
    public var failures: [String] { lock.withLock { failureList } }

    /// Waits until at least `count` more round trips succeeded (or `limit` passed).
    public func waitForSuccesses(_ count: Int, within limit: Duration = .seconds(15)) {
        let target = successes + count
        eventually(within: limit) { successes >= target }
    }

    /// Stops the loop and returns (successes, failures).
    public func stop() -> (Int, [String]) {
        lock.withLock { running = false }
        finished.wait()
        return lock.withLock { (successCount, failureList) }
    }
}
