// A value guarded by a pthread mutex: for state handed between threads that ThreadSanitizer must see.
#if canImport(Glibc)
import Glibc
#endif

/// Like `Synchronization.Mutex`, but over `pthread_mutex_t`. ThreadSanitizer intercepts pthread
/// mutexes; it does not see `Mutex`, whose futex lives in an uninstrumented library, and reported
/// the event loop's hand-over of connections as a race. Not for state a forked child touches.
package final class PosixMutex<Value>: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private var value: Value

    package init(_ value: Value) {
        self.value = value
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    package func withLock<Result, Failure: Error>(_ body: (inout Value) throws(Failure) -> Result) throws(Failure) -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}
