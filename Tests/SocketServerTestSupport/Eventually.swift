// Bounded polling, for states that send no signal to wait on: a process gone from /proc, a line
// in a file another process writes, a thread that has exited after saying it was done.
import Glibc

/// Checks `condition` every `interval` until it holds or `limit` has passed; its last answer.
@discardableResult
public func eventually(within limit: Duration = .seconds(5), every interval: Duration = .milliseconds(5),
                       _ condition: () throws -> Bool) rethrows -> Bool {
    try pollValue(within: limit, every: interval) { try condition() ? true : nil } ?? false
}

/// Asks `value` every `interval` until it gives something other than nil, or `limit` has passed
/// (then nil).
public func pollValue<T>(within limit: Duration = .seconds(5), every interval: Duration = .milliseconds(5),
                         _ value: () throws -> T?) rethrows -> T? {
    let deadline = ContinuousClock.now.advanced(by: limit)
    while ContinuousClock.now < deadline {
        if let found = try value() { return found }
        pause(interval)
    }
    return try value()
}

/// Sleeps for `duration` (the interval of a poll, or a window a rate is measured over).
public func pause(_ duration: Duration) {
    guard duration > .zero else { return }
    let (seconds, attoseconds) = duration.components
    var request = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
    var left = timespec()
    while nanosleep(&request, &left) != 0, errno == EINTR { request = left }
}

extension Duration {
    public var roundedMilliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}

/// How long `body` takes.
public func timed(_ body: () throws -> Void) rethrows -> Duration {
    let start = ContinuousClock.now
    try body()
    return ContinuousClock.now - start
}
