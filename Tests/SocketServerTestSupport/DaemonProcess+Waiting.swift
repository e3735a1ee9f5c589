// Waiting on a daemon: on its sd_notify messages (READY=1, STATUS=…) where it sends one, on its
// log or its process table where nothing else tells.
import Foundation
import XCTest

extension DaemonProcess {
    /// Every notification received since the last call, waiting up to `timeout` for the first.
    public func notifications(timeout: Duration = .milliseconds(500)) -> [String] {
        var messages: [String] = []
        var wait = timeout
        while let message = notify.receive(timeout: wait) {
            messages.append(message)
            wait = .milliseconds(50)
        }
        return messages
    }

    /// Notifications until one contains `text` (or `limit` passed, or the master exited), that one last.
    public func notifications(until text: String, within limit: Duration = .seconds(15)) -> [String] {
        notifications(untilOne: { $0.contains(text) }, within: limit)
    }

    private func notifications(untilOne matches: (String) -> Bool, within limit: Duration) -> [String] {
        var messages: [String] = []
        let deadline = ContinuousClock.now.advanced(by: limit)
        while ContinuousClock.now < deadline {
            guard let message = notify.receive(timeout: min(.milliseconds(200), ContinuousClock.now.duration(to: deadline))) else {
                if reapIfExited() != nil { break }
                continue
            }
            messages.append(message)
            if matches(message) { break }
        }
        return messages
    }

    /// Sends TERM and waits for STOPPING=1: the master has begun its graceful stop and closed its
    /// listeners. The notifications up to that one.
    public func beginGracefulStop(within limit: Duration = .seconds(15)) -> [String] {
        signal(SIGTERM)
        return notifications(until: "STOPPING=1", within: limit)
    }

    /// Waits for READY=1 (the master serves every service). Fails with the log on timeout or early exit.
    public func waitReady(within limit: Duration = .seconds(20), file: StaticString = #filePath, line: UInt = #line) throws {
        if notifications(until: "READY=1", within: limit).last?.contains("READY=1") == true { return }
        if let status = reapIfExited() {
            XCTFail("daemon exited (status \(status)) before READY:\n\(log)", file: file, line: line)
        } else {
            XCTFail("daemon not READY within \(limit):\n\(log)", file: file, line: line)
        }
        throw TestFailure.notReady
    }

    /// Waits for a STATUS= line containing `text` (what `systemctl status` shows); returns it.
    public func waitForStatus(_ text: String, within limit: Duration = .seconds(10)) -> String? {
        func status(_ message: String) -> String? {
            message.split(separator: "\n").first { $0.hasPrefix("STATUS=") && $0.contains(text) }.map(String.init)
        }
        return notifications(untilOne: { status($0) != nil }, within: limit).last.flatMap(status)
    }

    /// Waits until the log contains `text` (`count` times), polling the file.
    @discardableResult
    public func waitForLog(_ text: String, count: Int = 1, within limit: Duration = .seconds(15)) -> Bool {
        eventually(within: limit, every: .milliseconds(20)) { log.components(separatedBy: text).count - 1 >= count }
    }

    /// Waits until the master has `count` workers.
    public func waitForWorkers(_ count: Int, within limit: Duration = .seconds(10)) -> Bool {
        eventually(within: limit, every: .milliseconds(20)) { workerPIDs().count == count }
    }

    /// Waits until none of `pids` is a worker of the master any more.
    public func waitGone(_ pids: [pid_t], within limit: Duration) -> Bool {
        eventually(within: limit, every: .milliseconds(20)) { Set(workerPIDs()).isDisjoint(with: pids) }
    }

    /// For checking that nothing happened by `instant`: lets time pass until then, then waits for
    /// a WATCHDOG=1 the master sends after it. The master pings at the end of a loop turn, after
    /// supervising its workers (request_timeout, deadlines), so what that turn would do is done
    /// and logged. The daemon must have been started with WATCHDOG_USEC (200000: a ping every
    /// 0.1 s). False if no ping came within `limit` after `instant`.
    public func waitForLoopTurn(after instant: ContinuousClock.Instant, within limit: Duration = .seconds(5)) -> Bool {
        pause(ContinuousClock.now.duration(to: instant))  // the time under test, not a wait for an event
        _ = notifications(timeout: .zero)  // pings from turns before `instant`
        return notifications(untilOne: { $0.split(separator: "\n").contains("WATCHDOG=1") }, within: limit)
            .last?.contains("WATCHDOG=1") == true
    }
}
