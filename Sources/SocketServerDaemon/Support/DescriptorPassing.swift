// Handing open descriptors from the master to one worker: SCM_RIGHTS over an AF_UNIX datagram pair.
#if canImport(Glibc)
import Glibc
#endif
import CSocketServerShims

/// A one-way channel for descriptors from the master to one worker: a datagram socket pair
/// (close-on-exec) the master makes before forking the worker. The worker keeps `receiving`. The
/// master keeps both ends: it sends on `sending`, and takes back through `receiving` what the
/// worker has not collected before it sends something newer, so at most one message waits (a
/// worker that writes no log line for months would otherwise hold one rotated log file open per
/// rotation, up to the socket's buffer). Nothing flows the other way: `sending` is shut down for
/// reading, so the worker's end cannot send at all.
public struct DescriptorChannel: Equatable, Sendable {
    // `DescriptorChannel(sending:receiving:)` (memberwise) takes the ends of a channel whose
    // descriptors already exist (kept across an exec of the master); `open()` makes a new one.
    public let sending: Int32
    public let receiving: Int32

    /// A new channel.
    public static func open() throws(DaemonError) -> DescriptorChannel {
        var fds: [Int32] = [-1, -1]
        guard cssd_socketpair_datagram(&fds) == 0 else { throw .system("socketpair for a descriptor channel", errno) }
        _ = shutdown(fds[0], Int32(SHUT_RD))
        return DescriptorChannel(sending: fds[0], receiving: fds[1])
    }

    /// A channel for a new worker of `service`, or nil (with a warning) when none can be made: the
    /// worker then keeps the log it starts with.
    static func openForWorker(of service: String) -> DescriptorChannel? {
        do { return try open() } catch {
            log.warning("service \(service): \(error); the new worker will not follow log reopening")
            return nil
        }
    }

    /// Both descriptors, for a caller that must close or pass them all.
    public var descriptors: [Int32] { [sending, receiving] }

    /// The master closes both ends (the worker is gone).
    public func close() {
        _ = Glibc.close(sending)
        _ = Glibc.close(receiving)
    }

    /// In a newly forked worker: closes every channel's descriptors except its own receiving end.
    public static func keepOnly(_ own: DescriptorChannel?, closing all: [DescriptorChannel]) {
        for channel in all where channel != own { channel.close() }
        if let own { _ = Glibc.close(own.sending) }
    }

    /// The master: sends copies of `fds` in one message (the receiver gets its own descriptors
    /// for the same open files), first taking back one the receiver has not collected yet.
    /// Never blocks.
    public func send(_ fds: [Int32]) throws(DaemonError) {
        while let stale = DescriptorChannel.receiveOne(from: receiving) { stale.forEach { _ = Glibc.close($0) } }
        guard cssd_send_descriptors(sending, fds, Int32(fds.count)) == 0 else { throw .system("sending a descriptor", errno) }
    }

    /// The receiving process: the descriptors of the newest message waiting on `fd`
    /// (close-on-exec), or nil when none waits; older ones are closed.
    public static func receiveLatest(from fd: Int32) -> [Int32]? {
        var latest: [Int32]? = nil
        while let received = receiveOne(from: fd) {
            latest?.forEach { _ = Glibc.close($0) }
            latest = received
        }
        return latest
    }

    /// The descriptors of the next message, skipping messages without any; nil when none waits.
    private static func receiveOne(from fd: Int32) -> [Int32]? {
        var fds = [Int32](repeating: -1, count: Int(CSSD_MAX_PASSED))
        while true {
            let count = cssd_receive_descriptors(fd, &fds, CSSD_MAX_PASSED)
            if count > 0 { return Array(fds[..<Int(count)]) }
            // 0: a message without a descriptor; EBADMSG: one with more than fit (already closed).
            if count == 0 || errno == EBADMSG { continue }
            return nil  // EAGAIN: nothing waiting
        }
    }
}
