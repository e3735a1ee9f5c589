// The monotonic clock (CLOCK_MONOTONIC) as plain numbers: nanoseconds for loops that keep many
// deadlines (the event loop, the scoreboard), a timespec for the calls that take one. Every
// process of the machine reads the same clock, so values can be shared between processes.
#if canImport(Glibc)
import Glibc
#endif

/// The monotonic clock in nanoseconds (vDSO: no system call).
@inlinable
public func monotonicNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) &* 1_000_000_000 &+ UInt64(now.tv_nsec)
}

/// The monotonic clock `after` from now, as a timespec: the deadline for
/// `pthread_cond_timedwait` on a condition set to CLOCK_MONOTONIC. A negative `after` is now;
/// the caller keeps it small enough that tv_sec cannot overflow.
public func monotonicDeadline(after: Duration) -> timespec {
    var deadline = timespec()
    clock_gettime(CLOCK_MONOTONIC, &deadline)
    let (seconds, attoseconds) = max(after, .zero).components
    let nanoseconds = Int(deadline.tv_nsec) + Int(attoseconds / 1_000_000_000)
    deadline.tv_sec += Int(seconds) + nanoseconds / 1_000_000_000
    deadline.tv_nsec = nanoseconds % 1_000_000_000
    return deadline
}

/// Sleeps for `duration` (nothing if it is not positive); a signal that interrupts the sleep does
/// not shorten it.
public func sleep(for duration: Duration) {
    guard duration > .zero else { return }
    var request = duration.timespec
    var left = timespec()
    _ = try? retryingOnInterrupt {
        let result = nanosleep(&request, &left)
        request = left  // what is left, for the next try after an interruption
        return result
    }
}

extension Duration {
    /// Whole nanoseconds, negative as 0 and at most about 31 years (so sums cannot overflow).
    public var clampedNanoseconds: UInt64 {
        let (seconds, attoseconds) = max(self, .zero).components
        return UInt64(min(seconds, 1_000_000_000)) * 1_000_000_000 + UInt64(attoseconds / 1_000_000_000)
    }

    /// Whole nanoseconds, keeping the sign (truncated towards zero).
    public var wholeNanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }

    /// The duration as a timespec (whole nanoseconds), for nanosleep and the like.
    public var timespec: Glibc.timespec {
        let (seconds, attoseconds) = components
        return Glibc.timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
    }
}
