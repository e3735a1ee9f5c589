// The monotonic clock as plain nanoseconds, for loops that keep many deadlines (the event loop).
#if canImport(Glibc)
import Glibc
#endif

/// The monotonic clock in nanoseconds.
func monotonicNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}

extension Duration {
    /// Whole nanoseconds, negative as 0 and at most about 31 years (so sums cannot overflow).
    var clampedNanoseconds: UInt64 {
        let (seconds, attoseconds) = max(self, .zero).components
        return UInt64(min(seconds, 1_000_000_000)) * 1_000_000_000 + UInt64(attoseconds / 1_000_000_000)
    }
}
