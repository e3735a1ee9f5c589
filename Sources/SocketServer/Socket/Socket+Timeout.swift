// Timeouts and blocking mode, done as Python does: O_NONBLOCK plus poll(2) with a deadline.
#if canImport(Glibc)
import Glibc
#endif

/// What a socket waits for before a call can proceed.
enum Readiness {
    case read, write

    var events: Int16 { self == .read ? Int16(POLLIN) : Int16(POLLOUT) }
}

extension Socket {
    /// The current timeout: nil blocks forever, `.zero` is non-blocking (Python's `gettimeout()`).
    public var timeout: Duration? { timeoutState.withLock { $0 } }

    /// Sets the timeout for blocking calls; nil makes the socket blocking (Python's `settimeout`).
    public func setTimeout(_ timeout: Duration?) throws(SocketError) {
        if let timeout, timeout < .zero { throw .invalidAddress("timeout must not be negative") }
        try setNonBlockingFlag(timeout != nil)
        timeoutState.withLock { $0 = timeout }
    }

    /// Blocking (`true`, same as `setTimeout(nil)`) or non-blocking (`false`, same as `setTimeout(.zero)`).
    public func setBlocking(_ blocking: Bool) throws(SocketError) {
        try setTimeout(blocking ? nil : .zero)
    }

    /// How long a blocking receive or send may wait for the peer (`setIdleTimeout`); nil: forever.
    public var idleTimeout: Duration? {
        let nanoseconds = idleNanoseconds.load(ordering: .relaxed)
        return nanoseconds > 0 ? .nanoseconds(nanoseconds) : nil
    }

    /// Limits how long each blocking receive or send waits for the peer (the kernel's SO_RCVTIMEO
    /// and SO_SNDTIMEO); a call that waits longer throws `SocketError.timeout`. Not in Python's
    /// socket: unlike `setTimeout` the descriptor stays blocking and no poll(2) precedes a call, one
    /// system call fewer per wait; but the limit is per wait, not per call (a `sendAll` that keeps
    /// making progress may take longer in all), so it bounds idle time. It applies while the socket
    /// has no timeout and its descriptor is blocking; nil lifts it.
    public func setIdleTimeout(_ timeout: Duration?) throws(SocketError) {
        let fd = try fd("setsockopt")
        let nanoseconds = timeout.map { max(Int64(clamping: $0.clampedNanoseconds), 1_000) } ?? 0
        var limit = timeval(tv_sec: Int(nanoseconds / 1_000_000_000), tv_usec: Int(nanoseconds % 1_000_000_000 / 1_000))
        for option in [SO_RCVTIMEO, SO_SNDTIMEO] {
            guard setsockopt(fd, SOL_SOCKET, option, &limit, socklen_t(MemoryLayout<timeval>.size)) == 0 else {
                throw .last("setsockopt")
            }
        }
        idleNanoseconds.store(nanoseconds, ordering: .relaxed)
    }

    /// Sets O_NONBLOCK on the descriptor without changing the socket's timeout semantics:
    /// a blocking socket whose descriptor is non-blocking still blocks, by polling.
    public func setNonBlockingFlag(_ on: Bool) throws(SocketError) {
        let fd = try fd("ioctl")
        // FIONBIO sets or clears O_NONBLOCK in one call (fcntl needs F_GETFL, then F_SETFL): one
        // system call fewer for every accepted connection that gets a timeout.
        var value: Int32 = on ? 1 : 0
        guard ioctl(fd, UInt(FIONBIO), &value) == 0 else { throw .last("ioctl FIONBIO") }
        nonBlockingDescriptor.store(on, ordering: .relaxed)
    }

    /// The instant a call started now must finish by, or nil for no limit.
    func deadline() -> ContinuousClock.Instant? {
        timeout.map { ContinuousClock.now.advanced(by: $0) }
    }

    /// Runs a call that may report EAGAIN, retrying EINTR and waiting for readiness until the deadline.
    /// With `once`, EAGAIN is thrown at once whatever the timeout (the `…IfReady` calls). With
    /// `pollFirst` and a timeout, it waits for readiness before the first try: for a read that
    /// would almost surely find nothing yet, that saves the try that fails with EAGAIN.
    func waiting(_ call: String, for readiness: Readiness, once: Bool = false, pollFirst: Bool = false,
                 _ body: () -> Int) throws(SocketError) -> Int {
        var deadline = CallDeadline(timeout)
        return try waiting(call, for: readiness, once: once, pollFirst: pollFirst, deadline: &deadline, body)
    }

    /// `waiting` with a deadline the caller keeps: several calls that share one (sendAll's sends)
    /// share one timeout.
    func waiting(_ call: String, for readiness: Readiness, once: Bool = false, pollFirst: Bool = false,
                 deadline: inout CallDeadline, _ body: () -> Int) throws(SocketError) -> Int {
        let timeout = deadline.timeout
        if pollFirst, !once, let timeout, timeout > .zero {
            try waitUntilReady(readiness, deadline: deadline.instant(), call: call)
        }
        while true {
            do {
                return try retryingOnInterrupt(body)
            } catch .wouldBlock {
                if once || timeout == .zero { throw .system(call: call, errno: EAGAIN) }
                // A blocking descriptor reports EAGAIN only when its kernel wait limit passed.
                if timeout == nil && idleNanoseconds.load(ordering: .relaxed) > 0
                    && !nonBlockingDescriptor.load(ordering: .relaxed) { throw .timeout(call: call) }
                try waitUntilReady(readiness, deadline: deadline.instant(), call: call)
            } catch {
                throw .system(call: call, errno: error.rawValue)
            }
        }
    }

    /// Polls until the socket is ready or the deadline passes (then throws `.timeout`).
    func waitUntilReady(_ readiness: Readiness, deadline: ContinuousClock.Instant?, call: String) throws(SocketError) {
        let fd = try fd(call)
        var entry = pollfd(fd: fd, events: readiness.events, revents: 0)
        while true {
            if let deadline, ContinuousClock.now >= deadline { throw .timeout(call: call) }
            // Each try (again after an interruption) waits for what is left until the deadline.
            let ready = try retryingOnInterrupt("poll") {
                Glibc.poll(&entry, 1, pollMilliseconds(deadline.map { ContinuousClock.now.duration(to: $0) }))
            }
            if ready > 0 || deadline == nil { return }
        }
    }
}

/// A call's timeout and the instant it ends. The instant is only worked out once the call has to
/// wait: most calls succeed at once, and reading the clock and the Duration arithmetic cost more
/// than the call's own code.
struct CallDeadline {
    let timeout: Duration?
    private var end: ContinuousClock.Instant?
    private var known = false

    init(_ timeout: Duration?) { self.timeout = timeout }

    /// The instant the call must finish by (nil: no limit), fixed the first time it is asked for.
    mutating func instant() -> ContinuousClock.Instant? {
        if !known {
            end = timeout.map { ContinuousClock.now.advanced(by: $0) }
            known = true
        }
        return end
    }

    /// Whether a deadline already worked out has passed (false before the call first waited).
    var expired: Bool {
        guard known, let end else { return false }
        return ContinuousClock.now >= end
    }
}

extension Duration {
    /// Whole milliseconds, rounded up so a short wait never becomes a busy loop of zero-timeout polls.
    var roundedUpMilliseconds: Int64 {
        let (seconds, attoseconds) = components
        let millis = seconds * 1000 + attoseconds / 1_000_000_000_000_000
        return attoseconds % 1_000_000_000_000_000 > 0 ? millis + 1 : millis
    }
}
