// An eventfd that wakes a poll loop at once (shutdown() does not wait for the poll interval).
#if canImport(Glibc)
import Glibc
#endif
import CSocketServerShims

final class Wakeup: @unchecked Sendable {
    let fd: Int32

    init() throws(SocketError) {
        fd = cssd_eventfd()
        guard fd >= 0 else { throw .last("eventfd") }
    }

    deinit { Glibc.close(fd) }

    func signal() {
        var one: UInt64 = 1
        _ = Glibc.write(fd, &one, 8)
    }

    func drain() {
        var value: UInt64 = 0
        _ = Glibc.read(fd, &value, 8)
    }
}

/// poll(2)'s timeout for `timeout`: nil waits forever (-1); a negative timeout does not wait at all,
/// as in CPython (poll would take any negative value as "forever").
public func pollMilliseconds(_ timeout: Duration?) -> Int32 {
    guard let timeout else { return -1 }
    return Int32(clamping: max(timeout, .zero).roundedUpMilliseconds)
}

/// poll(2) for readability on `fds`; returns which are readable. EINTR returns none ready.
func pollReadable(_ fds: [Int32], timeout: Duration?) throws(SocketError) -> [Bool] {
    var entries = fds.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
    let milliseconds = pollMilliseconds(timeout)
    let ready = Glibc.poll(&entries, nfds_t(entries.count), milliseconds)
    if ready < 0 {
        if errno == EINTR { return fds.map { _ in false } }
        throw .last("poll")
    }
    return entries.map { $0.revents != 0 }
}

/// pollReadable for exactly two descriptors, without allocating (the serve loop calls it once per
/// request).
func pollReadable(_ first: Int32, _ second: Int32, timeout: Duration?) throws(SocketError) -> (Bool, Bool) {
    var entries = (pollfd(fd: first, events: Int16(POLLIN), revents: 0), pollfd(fd: second, events: Int16(POLLIN), revents: 0))
    let milliseconds = pollMilliseconds(timeout)
    let ready = withUnsafeMutableBytes(of: &entries) { raw in
        Glibc.poll(raw.baseAddress!.assumingMemoryBound(to: pollfd.self), 2, milliseconds)
    }
    if ready < 0 {
        if errno == EINTR { return (false, false) }
        throw .last("poll")
    }
    return (entries.0.revents != 0, entries.1.revents != 0)
}
