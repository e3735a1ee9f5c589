// The scoreboard: shared memory in which workers note the requests they are running, so the master
// can find a request that hangs and kill its worker (gunicorn's worker timeout, nginx-style).
#if canImport(Glibc)
import Glibc
#endif
import CSocketServerShims
import SocketServer

/// One MAP_SHARED memfd mapping per worker ("slot"), made by the master before it forks the worker,
/// so the worker and its per-request children write into memory the master reads. A slot holds
/// two flags (retiring, ready), two counts (requests served to the end, connections open now), one
/// entry per request the worker can run at once (its service's `threads`; sized from the config,
/// so every request in flight is tracked), then one connection record per connection it can hold
/// open at once (see Scoreboard+Connections.swift). An entry is a start time (monotonic ns,
/// 0 = free), the process group of a program the request started (exec; 0 = none), the pid of the
/// process serving it, and the client's address text. After a binary upgrade the new image maps
/// the same memfds again (`adopt`), so the workers it inherits keep reporting to it.
final class Scoreboard: @unchecked Sendable {
    static let clientBytes = 48
    static let entrySize = 24 + clientBytes
    static let headerSize = 32

    /// One worker's mapping.
    struct Board {
        let base: UnsafeMutableRawPointer
        let entries: Int
        let connections: Int
        /// The memfd behind it (close-on-exec; an upgrade hands it over).
        let descriptor: Int32

        var size: Int { Scoreboard.size(entries: entries, connections: connections) }
        /// Where the connection records start.
        var connectionBase: UnsafeMutableRawPointer { base + Scoreboard.headerSize + entries * Scoreboard.entrySize }
    }

    static func size(entries: Int, connections: Int) -> Int {
        headerSize + entries * entrySize + connections * connectionSize
    }

    private(set) var boards: [Int: Board] = [:]
    private var nextSlot = 0
    /// The account whose permissions kill the process groups workers note here (nil: the master's
    /// own): a worker may write any number into this memory, and the master is root.
    var killsAs: Credentials? = nil

    init() {}

    // MARK: Master side

    /// A board for a new worker that runs up to `entries` requests at once and holds up to
    /// `connections` open (cleared), or nil when the memory cannot be had (the worker is then
    /// untracked; the error is logged).
    func claimSlot(entries: Int, connections: Int = 1) -> Int? {
        let entries = max(1, entries)
        let connections = max(1, connections)
        // Sealed at its size: workers inherit the descriptor, and one that could shrink the memfd
        // would make the master's next read of the board fault.
        let fd = cssd_sealed_memfd("socketserverd-scoreboard", Scoreboard.size(entries: entries, connections: connections))
        guard fd >= 0 else {
            log.error("scoreboard: memfd_create: \(String(cString: strerror(errno)))")
            return nil
        }
        guard let board = Scoreboard.map(fd, entries: entries, connections: connections) else {
            log.error("scoreboard: cannot map \(entries) entries: \(String(cString: strerror(errno)))")
            close(fd)
            return nil
        }
        let slot = nextSlot
        nextSlot += 1
        boards[slot] = board
        return slot
    }

    private static func map(_ fd: Int32, entries: Int, connections: Int) -> Board? {
        let memory = mmap(nil, size(entries: entries, connections: connections), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
        guard let memory, memory != MAP_FAILED else { return nil }
        return Board(base: memory, entries: entries, connections: connections, descriptor: fd)
    }

    /// Unmaps a reaped worker's board.
    func releaseSlot(_ slot: Int) {
        guard let board = boards.removeValue(forKey: slot) else { return }
        munmap(board.base, board.size)
        close(board.descriptor)
    }

    /// For the binary upgrade: each slot's memfd and size.
    func handover(_ slot: Int) -> (descriptor: Int32, entries: Int)? {
        boards[slot].map { ($0.descriptor, $0.entries) }
    }

    /// In the new image: maps a board the previous image made; false if it cannot.
    func adopt(slot: Int, descriptor: Int32, entries: Int) -> Bool {
        // The connection records fill what the entries leave of the memfd.
        var info = stat()
        let total = fstat(descriptor, &info) == 0 ? Int(info.st_size) : 0
        let connections = (total - Scoreboard.headerSize - entries * Scoreboard.entrySize) / Scoreboard.connectionSize
        guard connections >= 1, let board = Scoreboard.map(descriptor, entries: entries, connections: connections) else {
            close(descriptor)
            return false
        }
        setCloseOnExec(descriptor, true)
        boards[slot] = board
        nextSlot = max(nextSlot, slot + 1)
        return true
    }

    /// The oldest request running in `slot`: since when, and from which client.
    func oldest(in slot: Int) -> (since: Int64, client: String)? {
        guard let board = boards[slot] else { return nil }
        var best: (Int64, Int)? = nil
        for entry in 0..<board.entries {
            let since = cssd_atomic_load64(start(board, entry))
            if since > 0, since < (best?.0 ?? .max) { best = (since, entry) }
        }
        guard let (since, entry) = best else { return nil }
        return (since, clientText(board, entry))
    }

    /// The clients of every request running in `slot`, oldest first (for the log when a worker dies).
    func clients(in slot: Int) -> [String] { running(in: slot).map(\.client) }

    /// Every request running in `slot`, oldest first: since when (monotonic ns) and from which client.
    func running(in slot: Int) -> [(since: Int64, client: String)] {
        guard let board = boards[slot] else { return [] }
        return (0..<board.entries)
            .map { (since: cssd_atomic_load64(start(board, $0)), entry: $0) }
            .filter { $0.since > 0 }
            .sorted { $0.since < $1.since }
            .map { ($0.since, clientText(board, $0.entry)) }
    }

    private func clientText(_ board: Board, _ entry: Int) -> String {
        let text = UnsafeRawBufferPointer(start: client(board, entry), count: Scoreboard.clientBytes)
        return String(decoding: text.prefix { $0 != 0 }, as: UTF8.self)
    }

    /// True once if the worker in `slot` said it is retiring by itself; clears it.
    func takeRetiring(slot: Int) -> Bool {
        guard let board = boards[slot] else { return false }
        return cssd_atomic_load64(retiringFlag(board)) != 0 && cssd_atomic_cas64(retiringFlag(board), 1, 0) != 0
    }

    /// True once the worker in `slot` reached its accept loop.
    func isReady(slot: Int) -> Bool { boards[slot].map { cssd_atomic_load64(readyFlag($0)) != 0 } ?? false }

    /// Kills the process groups requests in `slot` started and have not yet reaped.
    func killChildGroups(in slot: Int) {
        guard let board = boards[slot] else { return }
        for entry in 0..<board.entries {
            let group = cssd_atomic_load64(childGroup(board, entry))
            if group > 1, let group = pid_t(exactly: group) { Credentials.kill(group: group, SIGKILL, as: killsAs) }
            cssd_atomic_store64(childGroup(board, entry), 0)
        }
    }

    // MARK: Worker side

    /// The process groups of the programs requests in `slot` are running now.
    func liveChildGroups(in slot: Int) -> Set<pid_t> {
        guard let board = boards[slot] else { return [] }
        return Set((0..<board.entries).map { pid_t(cssd_atomic_load64(childGroup(board, $0))) }.filter { $0 > 1 })
    }

    /// This worker serves: its listener is in its accept loop (an old generation may now retire).
    func markReady(slot: Int) { if let board = boards[slot] { cssd_atomic_store64(readyFlag(board), 1) } }

    /// This worker stops accepting and will exit when its requests are done (its own request limit): the
    /// master should start its replacement now and give it a deadline, as for a reload.
    func markRetiring(slot: Int) { if let board = boards[slot] { cssd_atomic_store64(retiringFlag(board), 1) } }

    /// Notes a request from `client` starting now; returns the entry to pass to `end`, or nil
    /// (more requests at once than the board was sized for: cannot happen with the service's limits).
    func begin(slot: Int, client address: SocketAddress) -> Int? {
        guard let board = boards[slot] else { return nil }
        let now = Int64(monotonicNanoseconds())
        for entry in 0..<board.entries where cssd_atomic_cas64(start(board, entry), 0, -1) != 0 {
            Self.write(address, to: client(board, entry))
            cssd_atomic_store64(childGroup(board, entry), 0)
            cssd_atomic_store64(owner(board, entry), Int64(CurrentProcess.id))
            cssd_atomic_store64(start(board, entry), now)
            return entry
        }
        return nil
    }

    /// Writes the client as `SocketAddress.description` spells it into a slot of `clientBytes`,
    /// NUL-terminated: an IPv4 address (the usual client) byte by byte from its host and port,
    /// with no string built for it (a request child under `concurrency = fork` would otherwise run,
    /// and fault in, the string formatting code for each request).
    static func write(_ address: SocketAddress, to destination: UnsafeMutableRawPointer) {
        var count = 0
        func put(_ byte: UInt8) {
            guard count < clientBytes - 1 else { return }
            destination.storeBytes(of: byte, toByteOffset: count, as: UInt8.self)
            count += 1
        }
        if case .inet(let host, let port) = address, port >= 0 {
            for byte in host.utf8 { put(byte) }
            put(UInt8(ascii: ":"))
            var divisor = 1
            while divisor <= port / 10 { divisor *= 10 }
            while divisor > 0 {
                put(UInt8(ascii: "0") + UInt8(port / divisor % 10))
                divisor /= 10
            }
        } else {
            for byte in address.description.utf8 { put(byte) }
        }
        destination.storeBytes(of: 0, toByteOffset: count, as: UInt8.self)
    }

    func end(slot: Int, entry: Int) {
        guard let board = boards[slot], entry < board.entries else { return }
        cssd_atomic_store64(childGroup(board, entry), 0)
        cssd_atomic_store64(start(board, entry), 0)
    }

    /// Ends the requests process `pid` (a request child that died without ending them) left in
    /// `slot`, killing the programs they started; returns since when each ran, and its client.
    func endAll(slot: Int, owner pid: pid_t) -> [(since: Int64, client: String)] {
        guard let board = boards[slot] else { return [] }
        var clients: [(since: Int64, client: String)] = []
        for entry in 0..<board.entries
        where cssd_atomic_load64(start(board, entry)) > 0 && cssd_atomic_load64(owner(board, entry)) == Int64(pid) {
            clients.append((cssd_atomic_load64(start(board, entry)), clientText(board, entry)))
            let group = cssd_atomic_load64(childGroup(board, entry))
            if group > 1 { kill(-pid_t(group), SIGKILL) }
            end(slot: slot, entry: entry)
        }
        return clients
    }

    /// Records (or, with 0, clears) the process group of a program the request started.
    func setChildGroup(slot: Int, entry: Int, group: pid_t) {
        guard let board = boards[slot], entry < board.entries else { return }
        cssd_atomic_store64(childGroup(board, entry), Int64(group))
    }

    /// The requests the worker in `slot` served to the end, and the connections it has open now.
    func counts(in slot: Int) -> (requests: Int64, active: Int64) {
        guard let board = boards[slot] else { return (0, 0) }
        return (cssd_atomic_load64(countField(board, 0)), cssd_atomic_load64(countField(board, 1)))
    }

    /// Worker side: one more request served to the end.
    func countServed(slot: Int) { if let board = boards[slot] { _ = cssd_atomic_add64(countField(board, 0), 1) } }

    /// Worker side: a connection opened (+1) or closed (-1).
    func addActive(slot: Int, _ delta: Int64) { if let board = boards[slot] { _ = cssd_atomic_add64(countField(board, 1), delta) } }

    // MARK: Layout: the two flags, the two counts, then the entries.

    private func countField(_ board: Board, _ index: Int) -> UnsafeMutablePointer<Int64> {
        (board.base + 16 + index * 8).assumingMemoryBound(to: Int64.self)
    }

    private func retiringFlag(_ board: Board) -> UnsafeMutablePointer<Int64> { board.base.assumingMemoryBound(to: Int64.self) }

    private func readyFlag(_ board: Board) -> UnsafeMutablePointer<Int64> { (board.base + 8).assumingMemoryBound(to: Int64.self) }

    private func field(_ board: Board, _ entry: Int, _ offset: Int) -> UnsafeMutableRawPointer {
        board.base + Scoreboard.headerSize + entry * Scoreboard.entrySize + offset
    }

    private func start(_ board: Board, _ entry: Int) -> UnsafeMutablePointer<Int64> { field(board, entry, 0).assumingMemoryBound(to: Int64.self) }

    private func childGroup(_ board: Board, _ entry: Int) -> UnsafeMutablePointer<Int64> { field(board, entry, 8).assumingMemoryBound(to: Int64.self) }

    private func owner(_ board: Board, _ entry: Int) -> UnsafeMutablePointer<Int64> { field(board, entry, 16).assumingMemoryBound(to: Int64.self) }

    private func client(_ board: Board, _ entry: Int) -> UnsafeMutableRawPointer { field(board, entry, 24) }
}
