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

    /// Sets O_NONBLOCK on the descriptor without changing the socket's timeout semantics:
    /// a blocking socket whose descriptor is non-blocking still blocks, by polling.
    public func setNonBlockingFlag(_ on: Bool) throws(SocketError) {
        let fd = try fd("ioctl")
        // FIONBIO sets or clears O_NONBLOCK in one call (fcntl needs F_GETFL, then F_SETFL): one
        // system call fewer for every accepted connection that gets a timeout.
        var value: Int32 = on ? 1 : 0
        guard ioctl(fd, UInt(FIONBIO), &value) == 0 else { throw .last("ioctl FIONBIO") }
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
        // The deadline is only worked out once the call has to wait: most calls succeed at once, and
        // reading the clock and the Duration arithmetic cost more than the call's own code.
        let timeout = self.timeout
        var deadline: ContinuousClock.Instant? = nil
        var deadlineKnown = false
        if pollFirst, !once, let timeout, timeout > .zero {
            deadline = ContinuousClock.now.advanced(by: timeout)
            deadlineKnown = true
            try waitUntilReady(readiness, deadline: deadline, call: call)
        }
        while true {
            let result = body()
            if result >= 0 { return result }
            let code = Glibc.errno
            if code == EINTR { continue }
            guard code == EAGAIN || code == EWOULDBLOCK else { throw .system(call: call, errno: code) }
            if once || timeout == .zero { throw .system(call: call, errno: code) }
            if !deadlineKnown {
                deadline = timeout.map { ContinuousClock.now.advanced(by: $0) }
                deadlineKnown = true
            }
            try waitUntilReady(readiness, deadline: deadline, call: call)
        }
    }

    /// Polls until the socket is ready or the deadline passes (then throws `.timeout`).
    func waitUntilReady(_ readiness: Readiness, deadline: ContinuousClock.Instant?, call: String) throws(SocketError) {
        let fd = try fd(call)
        while true {
            var milliseconds: Int32 = -1
            if let deadline {
                let left = ContinuousClock.now.duration(to: deadline)
                if left <= .zero { throw .timeout(call: call) }
                milliseconds = Int32(clamping: left.roundedUpMilliseconds)
            }
            var entry = pollfd(fd: fd, events: readiness.events, revents: 0)
            let ready = Glibc.poll(&entry, 1, milliseconds)
            if ready > 0 { return }
            if ready == 0 { if deadline != nil { continue } else { return } }
            let code = Glibc.errno
            if code != EINTR { throw .system(call: "poll", errno: code) }
        }
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
