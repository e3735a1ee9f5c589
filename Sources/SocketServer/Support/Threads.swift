// Starting and joining POSIX threads without Foundation, named as Python names its threads.
#if canImport(Glibc)
import Glibc
#endif
import CSocketServerShims
import Synchronization

/// A started POSIX thread (Python's `threading.Thread`), joined once or detached.
///
/// Each thread has a `name`: the one given to `start`, else `Thread-N` as Python numbers its
/// threads (1, 2, … in the order they start); `PosixThread.current.name` is the calling thread's
/// (`MainThread` on the main thread, `Dummy-N` on a thread started some other way, as in Python).
/// A body that throws gives a `PosixThread.Throwing`, whose `join()` rethrows the error.
public struct PosixThread: Sendable {
    let id: pthread_t
    let info: ThreadInfo

    /// The thread's name (Python's `Thread.name`).
    public var name: String { info.name }

    /// The calling thread (Python's `threading.current_thread()`).
    public static var current: PosixThread { PosixThread(id: pthread_self(), info: ThreadInfo.current) }

    /// Starts `body` on a new thread. `detached` threads cannot be joined and free themselves.
    @discardableResult
    public static func start(name: String? = nil, detached: Bool = false,
                             _ body: @escaping @Sendable () -> Void) throws(SocketError) -> PosixThread {
        let info = ThreadInfo(name: name ?? ThreadInfo.nextName(prefix: "Thread"))
        let box = Unmanaged.passRetained(ThreadBody(info: info, body)).toOpaque()
        var id = pthread_t()
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        if detached { pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED)) }
        let code = pthread_create(&id, &attributes, { raw in
            let body = Unmanaged<ThreadBody>.fromOpaque(raw!).takeRetainedValue()
            ThreadInfo.setCurrent(body.info)
            body.run()
            return nil
        }, box)
        guard code == 0 else {
            Unmanaged<ThreadBody>.fromOpaque(box).release()
            throw .system(call: "pthread_create", errno: code)
        }
        return PosixThread(id: id, info: info)
    }

    /// Starts a body that may throw: `join()` rethrows its error (a detached thread's error is
    /// written to stderr, as Python reports an exception no one catches in a thread).
    @discardableResult
    public static func start(name: String? = nil, detached: Bool = false,
                             _ body: @escaping @Sendable () throws -> Void) throws(SocketError) -> Throwing {
        let failure = ThreadFailure()
        let thread = try start(name: name, detached: detached) { () -> Void in
            do {
                try body()
            } catch {
                if detached {
                    writeStandardError("Exception in thread \(PosixThread.current.name): \(error)")
                } else {
                    failure.error = error
                }
            }
        }
        return Throwing(thread: thread, failure: failure)
    }

    /// Waits for the thread to finish.
    public func join() {
        pthread_join(id, nil)
    }

    /// Lets the thread free itself when it ends; it can no longer be joined.
    public func detach() {
        pthread_detach(id)
    }

    /// A thread whose body may throw.
    public struct Throwing: Sendable {
        /// The thread itself.
        public let thread: PosixThread
        let failure: ThreadFailure

        /// The thread's name.
        public var name: String { thread.name }

        /// Waits for the thread to finish and rethrows what its body threw.
        public func join() throws {
            thread.join()
            if let error = failure.error { throw error }
        }

        /// Lets the thread free itself when it ends; its error is then lost.
        public func detach() { thread.detach() }
    }
}

/// What a thread's body threw: written by the thread before it ends and read after `pthread_join`,
/// which orders the two.
final class ThreadFailure: @unchecked Sendable {
    var error: (any Error)?
}

/// A thread's name, and the per-thread slot that finds it from the thread itself.
final class ThreadInfo: Sendable {
    let name: String

    init(name: String) { self.name = name }

    /// Python's counter: each thread started without a name takes the next number.
    private static let counter = Atomic<Int>(0)

    static func nextName(prefix: String) -> String {
        "\(prefix)-\(counter.add(1, ordering: .relaxed).newValue)"
    }

    /// The slot holds a retained ThreadInfo, released when the thread ends.
    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key) { raw in
            if let raw { Unmanaged<ThreadInfo>.fromOpaque(raw).release() }
        }
        return key
    }()

    static func setCurrent(_ info: ThreadInfo) {
        pthread_setspecific(key, Unmanaged.passRetained(info).toOpaque())
    }

    /// The calling thread's info; a thread not started by `PosixThread` gets one on first use.
    static var current: ThreadInfo {
        if let raw = pthread_getspecific(key) { return Unmanaged<ThreadInfo>.fromOpaque(raw).takeUnretainedValue() }
        let info = ThreadInfo(name: cssd_is_main_thread() != 0 ? "MainThread" : nextName(prefix: "Dummy"))
        setCurrent(info)
        return info
    }
}

private final class ThreadBody {
    let info: ThreadInfo
    let run: @Sendable () -> Void
    init(info: ThreadInfo, _ run: @escaping @Sendable () -> Void) {
        self.info = info
        self.run = run
    }
}
