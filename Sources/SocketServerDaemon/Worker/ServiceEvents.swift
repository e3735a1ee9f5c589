// The events a service can log once per connection, each kind rate-limited per service, and the
// shared memory in which the workers of a service (and their request children) count them.
#if canImport(Glibc)
import Glibc
#endif
import CSocketServerShims
import SocketServer
import SocketServerHandlers

/// What a client can make a worker log once per connection (and accept failures, which come once
/// per attempt). Each kind is logged at most once per 10 s per service, with a count.
enum ServiceEvent: Int, CaseIterable {
    /// The client reset the connection (ECONNRESET, EPIPE): its own doing, not a server error.
    case reset
    /// The client is not in `allow`.
    case notAllowed
    /// The client is in `deny`.
    case denied
    /// The service had `max_connections` open.
    case maxConnections
    /// The client had `per_source` connections open.
    case perSource
    /// The client came faster than `rate`.
    case rate
    /// The shared client table had no room for a client, which was not limited.
    case untracked
    /// The client stayed silent for `timeout`.
    case idle
    /// The thread pool's queue or the event loop was full.
    case full
    /// The handler refused what the client sent (an upload's malformed header or bad name).
    case badRequest
    /// The handler failed (threw, or reported a failure such as a full disk).
    case failed
    /// A request child (concurrency = fork) died while serving (a signal, a trap).
    case crashed
    /// accept failed (EMFILE, ENFILE, ENOBUFS…).
    case acceptFailed

    var level: LogLevel {
        switch self {
        case .reset, .idle: return .info
        case .notAllowed, .denied, .maxConnections, .perSource, .rate, .full, .untracked: return .warning
        case .badRequest, .failed, .crashed, .acceptFailed: return .error
        }
    }

    /// The events counted, plural, as the count's line names them.
    var what: String {
        switch self {
        case .reset: return "connections reset by their clients"
        case .notAllowed: return "connections refused (not in allow)"
        case .denied: return "connections refused (in deny)"
        case .maxConnections: return "connections refused (max_connections)"
        case .perSource: return "connections refused (per_source)"
        case .rate: return "connections refused (rate)"
        case .untracked: return "clients not limited (the client table is full)"
        case .idle: return "idle clients closed"
        case .full: return "connections refused as full"
        case .badRequest: return "bad requests"
        case .failed: return "failed requests"
        case .crashed: return "request children that died while serving"
        case .acceptFailed: return "failed accepts"
        }
    }
}

/// One service's rate-limited lines: a `LogRateLimiter` per kind of event.
final class ServiceEventLog: Sendable {
    private let limiters: [LogRateLimiter]
    /// Keeps the table (and so the words the limiters point into) mapped.
    private let table: ServiceLogTable

    /// The counters come from `table` (shared by every worker of the service) or, when it has no
    /// room, from a mapping of this worker's own (shared with its request children).
    init(service: String, table: ServiceLogTable = .shared, sink: any LogSink = Logger.shared) {
        self.table = table
        let words = table.words(for: service) ?? ServiceLogTable.privateWords()
        limiters = ServiceEvent.allCases.map { event in
            LogRateLimiter(level: event.level, prefix: "service \(service): ", what: event.what,
                           words: words + event.rawValue * LogRateLimiter.wordCount, sink: sink)
        }
    }

    /// One event of `kind`; `message` is built only if its line is written.
    func record(_ kind: ServiceEvent, _ message: () -> String) {
        limiters[kind.rawValue].record(message)
    }

    /// Writes the counts that are due (once per server loop, so a burst's end is reported).
    func flush() {
        for limiter in limiters { limiter.flush() }
    }
}

/// The counters of every service's rate-limited lines, in one MAP_SHARED anonymous mapping that
/// the master makes before it forks a worker (`prepare`), so the workers of one service and their
/// request children count into the same words. A service finds its slot by a hash of its name,
/// claimed by the first process that needs it; a reload keeps the slots of the services it keeps.
/// Made in a worker instead (a test, a library use), it is shared with that worker's children only.
final class ServiceLogTable: @unchecked Sendable {
    static let shared = ServiceLogTable()
    static let slots = 256
    /// A slot: the name's hash (0 = free), then the words of each kind's limiter.
    static let wordsPerSlot = 1 + ServiceEvent.allCases.count * LogRateLimiter.wordCount
    private static let size = slots * wordsPerSlot * MemoryLayout<Int64>.size

    private let base: UnsafeMutablePointer<Int64>?

    init() {
        let memory = mmap(nil, Self.size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0)
        base = memory == MAP_FAILED ? nil : memory?.assumingMemoryBound(to: Int64.self)
    }

    deinit { if let base { munmap(base, Self.size) } }

    /// Makes the shared table now, in the master, before the first worker is forked.
    static func prepare() { _ = shared }

    /// The limiter words of `service`; nil if the table is full (256 names) or could not be mapped.
    func words(for service: String) -> UnsafeMutablePointer<Int64>? {
        guard let base else { return nil }
        let key = Self.key(service)
        let start = Int(UInt64(bitPattern: key) % UInt64(Self.slots))
        for probe in 0..<Self.slots {
            let slot = base + ((start + probe) % Self.slots) * Self.wordsPerSlot
            var owner = cssd_atomic_load64(slot)
            if owner == 0 {
                if cssd_atomic_cas64(slot, 0, key) != 0 { return slot + 1 }
                owner = cssd_atomic_load64(slot)
            }
            if owner == key { return slot + 1 }
        }
        return nil
    }

    /// Words for one service's limiters in a mapping of their own, shared with the processes this
    /// one forks; process-private memory if even that cannot be mapped.
    static func privateWords() -> UnsafeMutablePointer<Int64> {
        let count = wordsPerSlot - 1
        let memory = mmap(nil, count * MemoryLayout<Int64>.size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0)
        if memory != MAP_FAILED, let memory { return memory.assumingMemoryBound(to: Int64.self) }
        let words = UnsafeMutablePointer<Int64>.allocate(capacity: count)
        words.initialize(repeating: 0, count: count)
        return words
    }

    /// FNV-1a of the name's UTF-8 bytes, never 0 (a free slot).
    static func key(_ service: String) -> Int64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in service.utf8 { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
        return hash == 0 ? 1 : Int64(bitPattern: hash)
    }
}
