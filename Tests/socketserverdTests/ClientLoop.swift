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

    init(port: Int) {
        Thread.detachNewThread { [self] in
            var index = 0
            while lock.withLock({ running }) {
                index += 1
                let message = "loop \(index)\n"
                do {
                    let reply = try tcpRoundTrip(port: port, message)
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
