// ThreadPoolMixIn: a bounded pool of threads with a bounded queue (no thread per connection).
#if canImport(Glibc)
import Glibc
#endif

/// Serves requests on at most `threads` long-lived threads. Requests wait in a queue of at most
/// `queueLimit`; when it is full the request is refused: `processRequest` throws `RequestRefused`
/// (`.queueFull`) and the server closes the connection. With an `acceptWait`, the server's loop
/// waits up to that long for an idle thread before it accepts (`beforeAccept`). `serverClose()`
/// lets queued requests finish, then joins the threads.
public final class ThreadPoolMixIn: RequestConcurrency, @unchecked Sendable {
    public let threadLimit: Int
    public let queueLimit: Int
    /// How long `beforeAccept` waits for an idle thread (`waitForIdleThread`) before the server
    /// accepts; zero (the default) does not wait. Several processes serving one listener set it,
    /// so that one whose threads are all busy leaves the connection to one with a free thread.
    /// The loop notices a shutdown only once the wait is over.
    public let acceptWait: Duration
    private var mutex = pthread_mutex_t()
    private var condition = pthread_cond_t()
    /// Waiting requests from `head` on; taken slots are emptied so a served request (and its
    /// server, which owns this pool) is not kept alive by the queue.
    private var queue: [(Request, BaseServer)?] = []
    private var head = 0
    private var threads: [PosixThread] = []
    private var idle = 0
    private var closing = false
    /// Signalled when a thread goes idle while someone waits in `waitForIdleThread` (monotonic clock).
    private var roomCondition = pthread_cond_t()
    private var roomWaiters = 0

    public init(threads: Int = 32, queueLimit: Int = 1024, acceptWait: Duration = .zero) {
        threadLimit = max(1, threads)
        self.queueLimit = max(0, queueLimit)
        self.acceptWait = max(acceptWait, .zero)
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&condition, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(&roomCondition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(&roomCondition)
        pthread_cond_destroy(&condition)
        pthread_mutex_destroy(&mutex)
    }

    /// Requests waiting for a thread.
    public var queued: Int { locked { queue.count - head } }

    /// Waits up to `timeout` until a request handed over now would start at once (a thread is idle,
    /// or another may be started) and returns whether one would. Several processes serving one
    /// listener call it before accepting: a process whose threads are all busy then leaves the
    /// connection to one with a free thread, instead of queueing it (or refusing it when the queue
    /// is full) while the other process idles. It changes nothing about what `processRequest` does.
    /// A negative timeout does not wait; one over a year waits a year.
    public func waitForIdleThread(timeout: Duration) -> Bool {
        // A negative tv_nsec makes pthread_cond_timedwait fail with EINVAL without waiting (the loop
        // below would spin holding the lock), and a huge timeout would overflow tv_sec.
        let timeout = min(max(timeout, .zero), .seconds(366 * 86_400))
        return locked {
            if hasIdleThread { return true }
            var deadline = monotonicDeadline(after: timeout)
            roomWaiters += 1
            defer { roomWaiters -= 1 }
            while !hasIdleThread && !closing {
                if pthread_cond_timedwait(&roomCondition, &mutex, &deadline) == ETIMEDOUT { break }
            }
            return hasIdleThread
        }
    }

    /// Waits up to `acceptWait` for an idle thread; then the server accepts, whatever the answer.
    public func beforeAccept(_ server: BaseServer) {
        if acceptWait > .zero { _ = waitForIdleThread(timeout: acceptWait) }
    }

    /// Under the lock: every queued request has an idle thread, and one more would find a thread.
    private var hasIdleThread: Bool { queue.count - head < idle + (threadLimit - threads.count) }

    public func processRequest(_ request: Request, server: BaseServer) throws {
        try locked {
            // Room: the queue itself, plus idle threads and threads not yet started, which take a
            // request at once (without them, a pool with queueLimit 0 would refuse everything).
            if queue.count - head >= queueLimit + idle + (threadLimit - threads.count) {
                throw RequestRefused(.queueFull(queueLimit: queueLimit))
            }
            // More requests than idle threads: start one, before queueing, so that if it cannot be
            // started nothing is queued (the server closes the request when this throws; a queued
            // copy would be served on a closed socket). The new thread waits for the lock.
            if queue.count - head >= idle && threads.count < threadLimit {
                threads.append(try PosixThread.start { [self] in work() })
            }
            queue.append((request, server))
            pthread_cond_signal(&condition)
        }
    }

    public func serverClose(_ server: BaseServer) {
        let running: [PosixThread] = locked {
            closing = true
            pthread_cond_broadcast(&condition)
            defer { threads.removeAll() }
            return threads
        }
        for thread in running { thread.join() }
        locked { closing = false }
    }

    private func work() {
        while let (request, server) = next() {
            do {
                try server.finishRequest(request)
            } catch {
                server.handleError(error, request: request)
            }
            server.endRequest(request)
        }
    }

    /// The next queued request, or nil when the pool is closing and the queue is empty.
    private func next() -> (Request, BaseServer)? {
        locked {
            while head == queue.count {
                if closing { return nil }
                idle += 1
                if roomWaiters > 0 { pthread_cond_signal(&roomCondition) }
                pthread_cond_wait(&condition, &mutex)
                idle -= 1
            }
            let item = queue[head]!
            queue[head] = nil
            head += 1
            if head == queue.count {
                queue.removeAll(keepingCapacity: true)
                head = 0
            } else if head > 64, head * 2 > queue.count {
                queue.removeFirst(head)
                head = 0
            }
            return item
        }
    }

    private func locked<R>(_ body: () throws -> R) rethrows -> R {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return try body()
    }
}
