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
    private let memory: SharedMemory
    /// The memfd behind the mapping (an upgrade hands it over).
    var descriptor: Int32 { memory.descriptor }

    private init(_ memory: SharedMemory) { self.memory = memory }

    /// New counters with the start time set to now; nil when the memory cannot be had (logged).
    static func create() -> DaemonCounters? {
        do {
            let counters = DaemonCounters(try SharedMemory.create(name: "socketserverd-daemon", size: size))
            counters.set(.startTime, Int64(time(nil)))
            return counters
        } catch {
            log.error("daemon counters: \(error)")
            return nil
        }
    }

    /// Maps counters the previous image made; nil if it cannot.
    static func adopt(_ descriptor: Int32) -> DaemonCounters? { SharedMemory.adopt(descriptor, size: size).map(DaemonCounters.init) }

    private func pointer(_ field: Field) -> UnsafeMutablePointer<Int64> { memory.int64(at: field.rawValue * 8) }

    func add(_ field: Field, _ delta: Int64 = 1) { _ = cssd_atomic_add64(pointer(field), delta) }

    func set(_ field: Field, _ value: Int64) { cssd_atomic_store64(pointer(field), value) }

    subscript(_ field: Field) -> Int64 { cssd_atomic_load64(pointer(field)) }
}
