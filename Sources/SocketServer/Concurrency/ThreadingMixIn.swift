// ThreadingMixIn: a thread per request (Python's socketserver.ThreadingMixIn).

/// Serves each request in a new thread. An error from the handler goes to `handleError` and the
/// server keeps serving. Unless `daemonThreads`, `serverClose()` joins every thread still running
/// when `blockOnClose` (the default).
public final class ThreadingMixIn: RequestConcurrency, @unchecked Sendable {
    private struct Running {
        var threads: [(thread: PosixThread, done: Event)] = []
    }
    private let running = PosixMutex(Running())
    private let settings = PosixMutex((daemonThreads: false, blockOnClose: true))

    public init(daemonThreads: Bool = false, blockOnClose: Bool = true) {
        settings.withLock { $0 = (daemonThreads, blockOnClose) }
    }

    /// Threads that the server does not wait for on close (Python's `daemon_threads`).
    public var daemonThreads: Bool { get { settings[\.daemonThreads] } set { settings[\.daemonThreads] = newValue } }

    /// Whether `serverClose()` joins the threads (Python's `block_on_close`).
    public var blockOnClose: Bool { get { settings[\.blockOnClose] } set { settings[\.blockOnClose] = newValue } }

    /// The number of request threads started and not yet joined.
    public var threadCount: Int { running.withLock { $0.threads.count } }

    public func processRequest(_ request: Request, server: BaseServer) throws {
        reapFinished()
        let detached = daemonThreads
        let done = Event()
        let thread = try PosixThread.start(detached: detached) {
            do {
                try server.finishRequest(request)
            } catch {
                server.handleError(error, request: request)
            }
            server.endRequest(request)
            done.set()
        }
        if !detached { running.withLock { $0.threads.append((thread, done)) } }
    }

    public func serverClose(_ server: BaseServer) {
        let threads = running.withLock { running in
            defer { running.threads.removeAll() }
            return running.threads
        }
        if blockOnClose {
            for entry in threads { entry.thread.join() }
        } else {
            for entry in threads { entry.thread.detach() }
        }
    }

    /// Joins threads that have finished, so their resources are freed.
    private func reapFinished() {
        // One test per thread: a thread that finished between two tests would leave the list
        // without being joined (ThreadSanitizer: thread leak).
        let finished = running.withLock { running in
            var done: [(thread: PosixThread, done: Event)] = []
            running.threads.removeAll { entry in
                guard entry.done.isSet else { return false }
                done.append(entry)
                return true
            }
            return done
        }
        for entry in finished { entry.thread.join() }
    }
}
