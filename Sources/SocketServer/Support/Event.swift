// A one-shot, resettable flag threads can wait on (Python's threading.Event), over pthreads.
#if canImport(Glibc)
import Glibc
#endif

/// A flag that threads can set, clear and wait for.
final class Event: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    private var condition = pthread_cond_t()
    private var flag: Bool

    init(set: Bool = false) {
        flag = set
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&condition, nil)
    }

    deinit {
        pthread_cond_destroy(&condition)
        pthread_mutex_destroy(&mutex)
    }

    var isSet: Bool {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return flag
    }

    func set() {
        pthread_mutex_lock(&mutex)
        flag = true
        pthread_cond_broadcast(&condition)
        pthread_mutex_unlock(&mutex)
    }

    func clear() {
        pthread_mutex_lock(&mutex)
        flag = false
        pthread_mutex_unlock(&mutex)
    }

    /// Blocks until the flag is set.
    func wait() {
        pthread_mutex_lock(&mutex)
        while !flag { pthread_cond_wait(&condition, &mutex) }
        pthread_mutex_unlock(&mutex)
    }
}
