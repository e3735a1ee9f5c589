// A service's shared counters: what `status` and /metrics report, and the state its per-client
// limits (max_connections, per_source, rate) share across every worker of the service.
#if canImport(Glibc)
import Glibc
#endif
import CSocketServerShims
import SocketServer

/// Why a connection (or a datagram) was refused, as metrics, `status` and the access log name it.
enum RefusalReason: String, CaseIterable, Sendable {
    case allow, deny, perSource = "per_source", maxConnections = "max_connections", rate, full
}

/// One service's counters in a MAP_SHARED memfd the master makes when the service first appears in
/// a cycle. Workers inherit the mapping across fork and add to it atomically; the master, the
/// metrics process and `status` read it. A service kept across a reload keeps its memory, and a
/// binary upgrade hands the memfd to the new image, so totals survive restarts, reloads and
/// upgrades. The memory also holds a table of clients (one entry per IPv4 address or IPv6 /64)
/// with the connections each has open and its rate-limit state.
final class ServiceCounters: @unchecked Sendable {
    /// The plain counters, in their order in memory.
    enum Field: Int, CaseIterable {
        /// Connections accepted (or datagrams handled), refusals excluded.
        case connections
        /// Connections open now.
        case active
        /// Connections (or datagrams) handled to the end.
        case served
        case receivedBytes, sentBytes
        /// Workers of the service that exited without being asked to (written by the master).
        case restarts
        /// Workers of the service running now, every generation (a gauge the master sets).
        case workers
        /// The duration histogram's count and sum (nanoseconds).
        case durationCount, durationNanoseconds
    }

    /// The upper bounds of the duration histogram's buckets, in seconds (+Inf follows).
    static let durationBuckets: [Double] = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 60]
    /// Clients the table tracks at once; beyond it a new client is not limited (and it is logged).
    static let sourceEntries = 4096
    /// How many entries a client's key may probe from its home entry.
    static let sourceProbes = 32

    private static let fieldsOffset = 0
    private static let refusalsOffset = fieldsOffset + Field.allCases.count * 8
    private static let bucketsOffset = refusalsOffset + RefusalReason.allCases.count * 8
    private static let sourcesOffset = bucketsOffset + (durationBuckets.count + 1) * 8
    /// A source entry: key (0 = free), connections open, rate state (GCRA's theoretical arrival time, ns).
    private static let sourceEntrySize = 24
    static let size = sourcesOffset + sourceEntries * sourceEntrySize

    private let memory: SharedMemory
    /// The memfd behind the mapping (an upgrade hands it over).
    var descriptor: Int32 { memory.descriptor }

    private init(_ memory: SharedMemory) { self.memory = memory }

    /// New zeroed counters for `service`, or nil when the memory cannot be had (logged).
    static func create(service: String) -> ServiceCounters? {
        do {
            return ServiceCounters(try SharedMemory.create(name: "socketserverd-counters", size: size))
        } catch {
            log.error("service \(service): counters: \(error)")
            return nil
        }
    }

    /// Maps counters another process made (the previous image, on an upgrade); nil if it cannot.
    static func adopt(_ descriptor: Int32) -> ServiceCounters? { SharedMemory.adopt(descriptor, size: size).map(ServiceCounters.init) }

    // MARK: Counters

    private func pointer(_ offset: Int) -> UnsafeMutablePointer<Int64> { memory.int64(at: offset) }

    func add(_ field: Field, _ delta: Int64 = 1) { _ = cssd_atomic_add64(pointer(Self.fieldsOffset + field.rawValue * 8), delta) }

    /// Sets a gauge (`workers`).
    func set(_ field: Field, _ value: Int64) { cssd_atomic_store64(pointer(Self.fieldsOffset + field.rawValue * 8), value) }

    subscript(_ field: Field) -> Int64 { cssd_atomic_load64(pointer(Self.fieldsOffset + field.rawValue * 8)) }

    func refuse(_ reason: RefusalReason) {
        _ = cssd_atomic_add64(pointer(Self.refusalsOffset + Self.index(reason) * 8), 1)
    }

    func refusals(_ reason: RefusalReason) -> Int64 { cssd_atomic_load64(pointer(Self.refusalsOffset + Self.index(reason) * 8)) }

    private static func index(_ reason: RefusalReason) -> Int { RefusalReason.allCases.firstIndex(of: reason)! }

    /// A connection (or datagram) that took `nanoseconds` ended: the histogram counts it.
    func recordDuration(nanoseconds: Int64) {
        let seconds = Double(nanoseconds) / 1e9
        let bucket = Self.durationBuckets.firstIndex { seconds <= $0 } ?? Self.durationBuckets.count
        _ = cssd_atomic_add64(pointer(Self.bucketsOffset + bucket * 8), 1)
        add(.durationCount)
        add(.durationNanoseconds, nanoseconds)
    }

    /// The histogram as Prometheus writes it: cumulative counts per bucket, +Inf last.
    func cumulativeBuckets() -> [Int64] {
        var total: Int64 = 0
        return (0...Self.durationBuckets.count).map { bucket in
            total += cssd_atomic_load64(pointer(Self.bucketsOffset + bucket * 8))
            return total
        }
    }

    /// One more connection open, unless `limit` are open already (max_connections; nil: no limit).
    func openConnection(limit: Int?) -> Bool {
        let active = pointer(Self.fieldsOffset + Field.active.rawValue * 8)
        guard let limit else {
            _ = cssd_atomic_add64(active, 1)
            return true
        }
        while true {
            let now = cssd_atomic_load64(active)
            if now >= Int64(limit) { return false }
            if cssd_atomic_cas64(active, now, now + 1) != 0 { return true }
        }
    }

    func closeConnection() { add(.active, -1) }

    // MARK: Clients

    /// A client's entry in the table: its key's, or a free (or idle) one claimed for it; nil when
    /// every entry it may probe is busy with other clients.
    private func sourceEntry(_ key: UInt64, claiming: Bool, now: Int64) -> UnsafeMutablePointer<Int64>? {
        let wanted = Int64(bitPattern: key)
        let home = Self.home(key)
        var reusable: UnsafeMutablePointer<Int64>? = nil
        for probe in 0..<Self.sourceProbes {
            let entry = pointer(Self.sourcesOffset + ((home + probe) % Self.sourceEntries) * Self.sourceEntrySize)
            let current = cssd_atomic_load64(entry)
            if current == wanted { return entry }
            guard claiming else { continue }
            if current == 0 {
                if cssd_atomic_cas64(entry, 0, wanted) != 0 { return entry }
                // Another process claimed it first, maybe for this very client.
                if cssd_atomic_load64(entry) == wanted { return entry }
                continue
            }
            // An entry with nothing open and no rate debt left may go to another client.
            if reusable == nil, current != 0, cssd_atomic_load64(entry + 1) == 0, cssd_atomic_load64(entry + 2) <= now {
                reusable = entry
            }
        }
        if let entry = reusable {
            let current = cssd_atomic_load64(entry)
            if cssd_atomic_load64(entry + 1) == 0, cssd_atomic_cas64(entry, current, wanted) != 0 {
                cssd_atomic_store64(entry + 2, 0)
                return entry
            }
        }
        return nil
    }

    /// The entry a client's key probes first.
    static func home(_ key: UInt64) -> Int { Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> 32) % sourceEntries }

    /// What `openSource` decided.
    enum SourceAdmission: Equatable {
        /// Counted: `closeSource` must follow when the connection ends.
        case counted
        /// Let through uncounted: every entry the client may use is busy with other clients.
        case untracked
        /// The client has `limit` connections open already.
        case refused
    }

    /// One more connection from the client `key`, unless it has `limit` open already (per_source).
    /// A client the full table cannot hold is let through, uncounted.
    func openSource(_ key: UInt64, limit: Int, now: Int64 = Int64(monotonicNanoseconds())) -> SourceAdmission {
        guard let entry = sourceEntry(key, claiming: true, now: now) else { return .untracked }
        while true {
            let open = cssd_atomic_load64(entry + 1)
            if open >= Int64(limit) { return .refused }
            if cssd_atomic_cas64(entry + 1, open, open + 1) != 0 {
                // The entry may have gone to another client between the lookup and the increment.
                if cssd_atomic_load64(entry) == Int64(bitPattern: key) { return .counted }
                _ = cssd_atomic_add64(entry + 1, -1)
                return openSource(key, limit: limit, now: now)
            }
        }
    }

    /// The connections the client `key` has open now, as `openSource` counted them.
    func openFromSource(_ key: UInt64) -> Int64 {
        sourceEntry(key, claiming: false, now: 0).map { cssd_atomic_load64($0 + 1) } ?? 0
    }

    /// The client `key` closed a connection `openSource` counted.
    func closeSource(_ key: UInt64) {
        guard let entry = sourceEntry(key, claiming: false, now: 0) else { return }
        if cssd_atomic_add64(entry + 1, -1) < 0 { cssd_atomic_store64(entry + 1, 0) }
    }

    /// Whether the client `key` may make a new connection now under `rate`: a token bucket of
    /// `burst` tokens refilled one per `interval` (GCRA, one compare-and-swap). A refusal takes no
    /// token; a client the full table cannot hold is let through.
    func takeRateToken(_ key: UInt64, interval: Duration, burst: Int, now: Int64 = Int64(monotonicNanoseconds())) -> Bool {
        guard let entry = sourceEntry(key, claiming: true, now: now) else { return true }
        let step = max(1, Int64(clamping: interval.clampedNanoseconds))
        let tolerance = step * Int64(max(0, burst - 1))
        while true {
            let arrival = cssd_atomic_load64(entry + 2)
            let start = max(arrival, now)
            if start - now > tolerance { return false }
            if cssd_atomic_cas64(entry + 2, arrival, start + step) != 0 { return true }
        }
    }

    /// The key a client is limited by: its IPv4 address (a v4-mapped IPv6 one too), or its IPv6 /64;
    /// nil for Unix clients.
    static func sourceKey(_ address: SocketAddress) -> UInt64? {
        switch address {
        case .unix: return nil
        case .inet(let host, _):
            var v4 = in_addr()
            guard inet_pton(AF_INET, host, &v4) == 1 else { return nil }
            return 0x8000_0000_0000_0000 | UInt64(UInt32(bigEndian: v4.s_addr))
        case .inet6(let host, _, _, _):
            var v6 = in6_addr()
            guard inet_pton(AF_INET6, host, &v6) == 1 else { return nil }
            let bytes = withUnsafeBytes(of: &v6) { Array($0) }
            if bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xff, bytes[11] == 0xff {
                return 0x8000_0000_0000_0000 | bytes[12...].reduce(0) { $0 << 8 | UInt64($1) }
            }
            let prefix = bytes[0..<8].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            // 8000::/16 is unassigned, so no /64 collides with the IPv4 keys; ::/64 (::1) is not 0 (free).
            return prefix == 0 ? 0x8000_0001_0000_0000 : prefix
        }
    }
}
