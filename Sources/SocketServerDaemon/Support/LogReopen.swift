// Log rotation across processes: the master opens the log file, workers get its descriptor.
#if canImport(Glibc)
import Glibc
#endif
import CSocketServerShims

/// Only the master opens the log file (and the access log): workers run as an unprivileged user
/// and could not open one in a root-only directory. On SIGUSR1 (after logrotate moved the files)
/// and on a reload that changes `log_file` or `access_log`, the master opens the files, sends the
/// descriptors down each worker's `DescriptorChannel`, then bumps a counter in the shared page. A worker sees the new count
/// before its next line and takes the descriptor from its channel (dup3 over its log descriptor).
/// No signal reaches the workers, so no handler's blocking call is interrupted by a log rotation.
/// Request children that a worker forks never read the channel (it is the worker's; they keep
/// the descriptor they were forked with).
extension Logger {
    static let sharedPageSize = 4096

    /// The memfd behind the shared page, for passing to a new master binary (-1: no memfd,
    /// the page is an anonymous mapping). Close-on-exec: clear the flag to pass it on.
    public var sharedPageDescriptor: Int32 { sharedPageFD.load(ordering: .relaxed) }

    /// A new master binary takes over the page of the one it replaced (whose workers still read
    /// it): maps `fd` instead of its own page and from then on owns `fd`. Call it before other
    /// threads log.
    public func adoptSharedPage(fd: Int32) throws(DaemonError) {
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw .system("fstat of the log's shared page", errno) }
        guard info.st_size >= Logger.sharedPageSize else {
            throw .message("the log's shared page (descriptor \(fd)) is \(info.st_size) bytes, not \(Logger.sharedPageSize)")
        }
        let page = mmap(nil, Logger.sharedPageSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
        guard let page, page != MAP_FAILED else { throw .system("mmap of the log's shared page", errno) }
        seenGeneration.store(cssd_atomic_load64(page.assumingMemoryBound(to: Int64.self)), ordering: .relaxed)
        let old = sharedPage.exchange(UInt(bitPattern: page), ordering: .acquiringAndReleasing)
        let oldFD = sharedPageFD.exchange(fd, ordering: .relaxed)
        if let old = UnsafeMutableRawPointer(bitPattern: old) { munmap(old, Logger.sharedPageSize) }
        if oldFD >= 0, oldFD != fd { close(oldFD) }
    }

    /// A memfd page (sealed: no process sharing it can shrink it under the others), or an
    /// anonymous shared page where memfd_create is unavailable; (-1, 0) if neither can be mapped.
    static func makeSharedPage() -> (fd: Int32, address: UInt) {
        let fd = cssd_sealed_memfd("socketserverd-log", sharedPageSize)
        let page = mmap(nil, sharedPageSize, PROT_READ | PROT_WRITE, MAP_SHARED | (fd >= 0 ? 0 : MAP_ANONYMOUS), fd, 0)
        guard let page, page != MAP_FAILED else {
            if fd >= 0 { close(fd) }
            return (-1, 0)
        }
        return (fd, UInt(bitPattern: page))
    }

    var generation: UnsafeMutablePointer<Int64>? {
        UnsafeMutablePointer(bitPattern: sharedPage.load(ordering: .acquiring))
    }

    // MARK: Master

    /// SIGUSR1: opens the log file again (logrotate moved it) and sends it to every channel's
    /// worker. On stderr it does nothing.
    public func reopen(notifying channels: [DescriptorChannel]) throws(DaemonError) {
        guard try reopenFile() else { return }
        notifyWorkers(channels)
    }

    /// Opens the log file again, without telling the workers; false on stderr (nothing to do).
    func reopenFile() throws(DaemonError) -> Bool {
        guard let path = path.withLock({ $0 }) else { return false }
        try redirect(to: path)
        return true
    }

    /// `redirect(to:)`, then sends the new log (the file, or stderr) to every channel's worker.
    public func redirect(to path: String?, notifying channels: [DescriptorChannel]) throws(DaemonError) {
        try redirect(to: path)
        notifyWorkers(channels)
    }

    /// Sends every channel's worker what it writes to: the log, and the access log when it is on,
    /// in one message (a worker takes both; without a second descriptor its access log is off).
    func notifyWorkers(_ channels: [DescriptorChannel]) {
        let access = AccessLog.shared.descriptor
        let fds = [fdValue.load(ordering: .acquiring)] + (access >= 0 ? [access] : [])
        var failed = 0
        for channel in channels {
            do { try channel.send(fds) } catch { failed += 1 }
        }
        // After the sends: a worker that sees the new count finds the descriptor waiting.
        if let generation { seenGeneration.store(cssd_atomic_add64(generation, 1), ordering: .relaxed) }
        if failed > 0 { warning("\(failed) worker(s) could not be sent the new log; they write to the previous one") }
    }

    // MARK: Worker

    /// In a worker: `fd` is its end of the master's channel; only this process (`owner`) reads it.
    public func receiveReopenedLog(on fd: Int32, owner: pid_t = getpid()) {
        channelOwner.store(owner, ordering: .relaxed)
        channel.store(fd, ordering: .relaxed)
    }

    /// Before each line: if the master sent a new log since this process last looked, the worker
    /// takes it (one thread at a time; the others write to the current one meanwhile). The count
    /// is read before the channel is emptied, and recorded only after, so a descriptor sent
    /// meanwhile is never missed: its count comes after it and is seen on a later line.
    func collectReopenedLog() {
        guard let generation else { return }
        let current = cssd_atomic_load64(generation)
        guard current != seenGeneration.load(ordering: .relaxed) else { return }
        let fd = channel.load(ordering: .relaxed)
        guard fd >= 0, channelOwner.load(ordering: .relaxed) == getpid() else {
            // Not the channel's owner (the master, a request child): nothing to take, ever.
            seenGeneration.store(current, ordering: .relaxed)
            return
        }
        guard collecting.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else { return }
        defer { collecting.store(false, ordering: .releasing) }
        var target = current
        repeat {
            target = cssd_atomic_load64(generation)
            if let received = DescriptorChannel.receiveLatest(from: fd) {
                do { try install(received[0]) } catch {
                    write(line: "[\(getpid())] error: cannot take the reopened log: \(error)\n")
                }
                AccessLog.shared.install(received.count > 1 ? received[1] : nil)
                for extra in received.dropFirst(2) { close(extra) }
            }
            seenGeneration.store(target, ordering: .relaxed)
        } while cssd_atomic_load64(generation) != target
    }
}
