// Helpers of the SocketServer tests (the shared ones are in SocketServerTestSupport): background
// serving, descriptor accounting, and a runner for Python clients.
import Dispatch
import Glibc
@testable import SocketServer
import SocketServerTestSupport
import XCTest

/// A value several threads share (over the library's `PosixMutex`, which ThreadSanitizer sees).
final class Locked<Value: Sendable>: Sendable {
    private let mutex: PosixMutex<Value>
    init(_ value: Value) { mutex = PosixMutex(value) }
    var value: Value { mutex.withLock { $0 } }
    func update<R>(_ body: (inout Value) -> R) -> R { mutex.withLock { body(&$0) } }
}

// MARK: - Serving in the background

/// A server running `serveForever` on its own thread. `stop()` shuts it down (bounded), joins the
/// thread and calls `serverClose()`.
final class BackgroundServer: @unchecked Sendable {
    let server: BaseServer
    private let thread: PosixThread
    private let finished = DispatchSemaphore(value: 0)
    private let loopError = Locked<String?>(nil)
    private var stopped = false
    private var loopExited = false

    init(_ server: BaseServer, pollInterval: Duration = .milliseconds(50)) throws {
        self.server = server
        let finished = finished
        let loopError = loopError
        thread = try PosixThread.start {
            do {
                try server.serveForever(pollInterval: pollInterval)
            } catch {
                loopError.update { $0 = "\(error)" }
            }
            finished.signal()
        }
    }

    /// The name of the thread that runs `serveForever`.
    var threadName: String { thread.name }

    /// Waits up to `limit` for `serveForever` to return by itself; true if it did.
    func loopExits(within limit: Duration) -> Bool {
        if loopExited { return true }
        loopExited = finished.wait(timeout: .now() + .milliseconds(Int(limit.roundedMilliseconds))) == .success
        return loopExited
    }

    /// Stops the loop within `limit`, joins the serving thread and (unless `close` is false) closes
    /// the server.
    func stop(close: Bool = true, limit: Duration = .seconds(10), file: StaticString = #filePath, line: UInt = #line) {
        guard !stopped else { return }
        stopped = true
        let server = server
        let shutdownDone = DispatchSemaphore(value: 0)
        if loopExited {
            shutdownDone.signal()  // a shutdown now would stay pending and stop the next serveForever
        } else {
            _ = try? PosixThread.start(detached: true) {
                server.shutdown()
                shutdownDone.signal()
            }
        }
        let deadline = DispatchTime.now() + .milliseconds(Int(limit.roundedMilliseconds))
        guard shutdownDone.wait(timeout: deadline) == .success, loopExited || finished.wait(timeout: deadline) == .success else {
            XCTFail("serveForever did not stop within \(limit)", file: file, line: line)
            return
        }
        thread.join()
        if close { server.serverClose() }
        if let error = loopError.value { XCTFail("serveForever threw: \(error)", file: file, line: line) }
    }
}

/// Serves `server` in the background while `body` runs, then stops and closes it.
func withServing<S: BaseServer, R>(
    _ server: S, pollInterval: Duration = .milliseconds(50),
    file: StaticString = #filePath, line: UInt = #line, _ body: (S) throws -> R
) throws -> R {
    let background = try BackgroundServer(server, pollInterval: pollInterval)
    defer { background.stop(file: file, line: line) }
    return try body(server)
}

/// Runs `body` and fails if it leaves descriptors open that were not open before.
func assertNoDescriptorLeak<R>(
    _ what: String = "", file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> R
) rethrows -> R {
    let before = openDescriptors()
    let result = try body()
    let after = openDescriptors()
    // The library never makes a timerfd; Dispatch does, lazily, the first time the test process
    // needs a timer (seen once in a forking test), and keeps it for the rest of the run.
    let leaked = after.filter { before[$0.key] != $0.value && $0.value != "anon_inode:[timerfd]" }
    XCTAssertTrue(leaked.isEmpty, "descriptors leaked \(what): \(leaked.sorted { $0.key < $1.key })", file: file, line: line)
    return result
}
