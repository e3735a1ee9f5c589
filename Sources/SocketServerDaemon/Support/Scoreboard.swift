// The scoreboard: shared memory in which workers note the requests they are running, so the master
// can find a request that hangs and kill its worker (gunicorn's worker timeout, nginx-style).
#if canImport(Glibc)
import Glibc
#endif
import CSocketServerShims

/// One page-aligned anonymous MAP_SHARED mapping, made by the master before any fork, so every
/// worker and every per-request child writes into the same memory. Each worker owns one slot of
/// `entriesPerSlot` entries: a start time (monotonic ns, 0 = free), the process group of a program
/// the request started (exec; 0 = none), the pid of the process serving it, and the client's
/// address text.
final class Scoreboard: @unchecked Sendable {
    static let slots = 1024
    static let entriesPerSlot = 32
    static let clientBytes = 48
    static let entrySize = 24 + clientBytes

    private let base: UnsafeMutableRawPointer
    private let size: Int
    private var freeSlots: [Int]
    /// The account whose permissions kill the process groups workers note here (nil: the master's
    /// own): a worker may write any number into this memory, and the master is root.
    var killsAs: Credentials? = nil

    init() throws(DaemonError) {
        size = Scoreboard.slots * Scoreboard.entriesPerSlot * Scoreboard.entrySize + Scoreboard.slots * 8
        let memory = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0)
        guard let memory, memory != MAP_FAILED else { throw .system("mmap scoreboard", errno) }
        base = memory
        freeSlots = Array((0..<Scoreboard.slots).reversed())
    }

    deinit { munmap(base, size) }

    // MARK: Master side

    /// A slot for a new worker (cleared), or nil when all are taken (the worker is then untracked).
    func claimSlot() -> Int? {
        guard let slot = freeSlots.popLast() else { return nil }
        cssd_atomic_store64(retiringFlag(slot), 0)
        for entry in 0..<Scoreboard.entriesPerSlot {
            cssd_atomic_store64(start(slot, entry), 0)
            cssd_atomic_store64(childGroup(slot, entry), 0)
        }
        return slot
    }

    func releaseSlot(_ slot: Int) { freeSlots.append(slot) }

    /// The oldest request running in `slot`: since when, and from which client.
    func oldest(in slot: Int) -> (since: Int64, client: String)? {
        var best: (Int64, Int)? = nil
        for entry in 0..<Scoreboard.entriesPerSlot {
            let since = cssd_atomic_load64(start(slot, entry))
            if since > 0, since < (best?.0 ?? .max) { best = (since, entry) }
        }
        guard let (since, entry) = best else { return nil }
        return (since, clientText(slot, entry))
    }

    /// The clients of every request running in `slot`, oldest first (for the log when a worker dies).
    func clients(in slot: Int) -> [String] {
        (0..<Scoreboard.entriesPerSlot)
            .map { (since: cssd_atomic_load64(start(slot, $0)), entry: $0) }
            .filter { $0.since > 0 }
            .sorted { $0.since < $1.since }
            .map { clientText(slot, $0.entry) }
    }

    private func clientText(_ slot: Int, _ entry: Int) -> String {
        let text = UnsafeRawBufferPointer(start: client(slot, entry), count: Scoreboard.clientBytes)
        return String(decoding: text.prefix { $0 != 0 }, as: UTF8.self)
    }

    /// True once if the worker in `slot` said it is retiring by itself (max_requests); clears it.
    func takeRetiring(slot: Int) -> Bool {
        cssd_atomic_load64(retiringFlag(slot)) != 0 && cssd_atomic_cas64(retiringFlag(slot), 1, 0) != 0
    }

    /// Kills the process groups requests in `slot` started and have not yet reaped.
    func killChildGroups(in slot: Int) {
        for entry in 0..<Scoreboard.entriesPerSlot {
            let group = cssd_atomic_load64(childGroup(slot, entry))
            if group > 1, let group = pid_t(exactly: group) { Credentials.kill(group: group, SIGKILL, as: killsAs) }
            cssd_atomic_store64(childGroup(slot, entry), 0)
        }
    }

    // MARK: Worker side

    /// This worker stops accepting and will exit when its requests are done (max_requests): the
    /// master should start its replacement now and give it a deadline, as for a reload.
    func markRetiring(slot: Int) { cssd_atomic_store64(retiringFlag(slot), 1) }

    /// Notes a request from `clientText` starting now; returns the entry to pass to `end`, or nil.
    func begin(slot: Int, clientText: String) -> Int? {
        let now = Scoreboard.monotonicNanoseconds()
        for entry in 0..<Scoreboard.entriesPerSlot where cssd_atomic_cas64(start(slot, entry), 0, -1) != 0 {
            // Straight from the string's storage into the slot: no array per request.
            var text = clientText
            let destination = client(slot, entry)
            text.withUTF8 { utf8 in
                let count = min(utf8.count, Scoreboard.clientBytes - 1)
                if let source = utf8.baseAddress, count > 0 { destination.copyMemory(from: source, byteCount: count) }
                destination.storeBytes(of: 0, toByteOffset: count, as: UInt8.self)
            }
            cssd_atomic_store64(childGroup(slot, entry), 0)
            cssd_atomic_store64(owner(slot, entry), Int64(getpid()))
            cssd_atomic_store64(start(slot, entry), now)
            return entry
        }
        return nil
    }

    func end(slot: Int, entry: Int) {
        cssd_atomic_store64(childGroup(slot, entry), 0)
        cssd_atomic_store64(start(slot, entry), 0)
    }

    /// Ends the requests process `pid` (a request child that died without ending them) left in
    /// `slot`, killing the programs they started; returns their clients.
    func endAll(slot: Int, owner pid: pid_t) -> [String] {
        var clients: [String] = []
        for entry in 0..<Scoreboard.entriesPerSlot
        where cssd_atomic_load64(start(slot, entry)) > 0 && cssd_atomic_load64(owner(slot, entry)) == Int64(pid) {
            clients.append(clientText(slot, entry))
            let group = cssd_atomic_load64(childGroup(slot, entry))
            if group > 1 { kill(-pid_t(group), SIGKILL) }
            end(slot: slot, entry: entry)
        }
        return clients
    }

    /// Records (or, with 0, clears) the process group of a program the request started.
    func setChildGroup(slot: Int, entry: Int, group: pid_t) {
        cssd_atomic_store64(childGroup(slot, entry), Int64(group))
    }

    // MARK: Layout

    private func start(_ slot: Int, _ entry: Int) -> UnsafeMutablePointer<Int64> {
        (base + (slot * Scoreboard.entriesPerSlot + entry) * Scoreboard.entrySize).assumingMemoryBound(to: Int64.self)
    }

    private func childGroup(_ slot: Int, _ entry: Int) -> UnsafeMutablePointer<Int64> {
        (base + (slot * Scoreboard.entriesPerSlot + entry) * Scoreboard.entrySize + 8).assumingMemoryBound(to: Int64.self)
    }

    /// One word per slot after all the entries.
    private func retiringFlag(_ slot: Int) -> UnsafeMutablePointer<Int64> {
        (base + Scoreboard.slots * Scoreboard.entriesPerSlot * Scoreboard.entrySize + slot * 8).assumingMemoryBound(to: Int64.self)
    }

    private func owner(_ slot: Int, _ entry: Int) -> UnsafeMutablePointer<Int64> {
        (base + (slot * Scoreboard.entriesPerSlot + entry) * Scoreboard.entrySize + 16).assumingMemoryBound(to: Int64.self)
    }

    private func client(_ slot: Int, _ entry: Int) -> UnsafeMutableRawPointer {
        base + (slot * Scoreboard.entriesPerSlot + entry) * Scoreboard.entrySize + 24
    }

    static func monotonicNanoseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
    }
}
