// The daemon's own counters, in shared memory the master writes and the metrics process reads.
#if canImport(Glibc)
import Glibc
#endif
import CSocketServerShims
import SocketServer

/// The master's figures that outlive a process: when the daemon started, its reloads, its
/// generation. A MAP_SHARED memfd made once; a binary upgrade hands it to the new image, so the
/// start time and the reload totals survive it.
final class DaemonCounters: @unchecked Sendable {
    enum Field: Int, CaseIterable {
        /// Seconds since the epoch when the first image started (CLOCK_REALTIME).
        case startTime
        case reloadsOK, reloadsFailed
        case generation
    }

    static let size = Field.allCases.count * 8
    private let base: UnsafeMutableRawPointer
    /// The memfd behind the mapping (close-on-exec; an upgrade hands it over).
    let descriptor: Int32

    private init(base: UnsafeMutableRawPointer, descriptor: Int32) {
        self.base = base
        self.descriptor = descriptor
    }

    /// New counters with the start time set to now; nil when the memory cannot be had (logged).
    static func create() -> DaemonCounters? {
        let fd = cssd_sealed_memfd("socketserverd-daemon", size)
        guard fd >= 0, let counters = adopt(fd) else {
            log.error("daemon counters: \(Errno(rawValue: errno))")
            if fd >= 0 { close(fd) }
            return nil
        }
        counters.set(.startTime, Int64(time(nil)))
        return counters
    }

    /// Maps counters the previous image made; nil if it cannot.
    static func adopt(_ descriptor: Int32) -> DaemonCounters? {
        let memory = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, descriptor, 0)
        guard let memory, memory != MAP_FAILED else { return nil }
        setCloseOnExec(descriptor, true)
        return DaemonCounters(base: memory, descriptor: descriptor)
    }

    deinit {
        munmap(base, DaemonCounters.size)
        close(descriptor)
    }

    private func pointer(_ field: Field) -> UnsafeMutablePointer<Int64> {
        (base + field.rawValue * 8).assumingMemoryBound(to: Int64.self)
    }

    func add(_ field: Field, _ delta: Int64 = 1) { _ = cssd_atomic_add64(pointer(field), delta) }

    func set(_ field: Field, _ value: Int64) { cssd_atomic_store64(pointer(field), value) }

    subscript(_ field: Field) -> Int64 { cssd_atomic_load64(pointer(field)) }
}
