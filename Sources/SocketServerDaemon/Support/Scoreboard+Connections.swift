// The connections a worker holds open, on its board: so that what they count in the service's
// shared counters (active, per_source) is given back even when the process holding them dies.
#if canImport(Glibc)
import Glibc
#endif
import CSocketServerShims

/// A board's connection records follow its request entries: one per connection the worker can
/// hold open at once (queued, running, or on its event loop). A record is three words: its state,
/// the client's source key, and the pid of the process that will end the connection (the worker,
/// or under concurrency = fork the request child). Whoever frees a record (the process ending the
/// connection, the worker when a request child died, the master when the worker died) first wins
/// a compare-and-swap on the state, and only the winner gives back what the record counted, so
/// nothing is given back twice.
extension Scoreboard {
    static let connectionSize = 24

    /// What a connection record's state says it counted.
    enum ConnectionState: Int64 {
        case free = 0
        /// Being filled in: nothing counted yet.
        case claiming = -1
        /// One connection in the service's `active` and in this board's count.
        case active = 1
        /// That, and one for its source key in the service's client table (per_source).
        case activeWithSource = 2
    }

    /// A record for a connection, starting at `hint` (a number that differs between open
    /// connections, such as the descriptor); nil when every record is taken (cannot happen with
    /// the service's limits; the connection is then served untracked). `owner` is the claiming
    /// process.
    func claimConnection(slot: Int, hint: Int, owner: pid_t = CurrentProcess.id) -> Int? {
        guard let board = boards[slot] else { return nil }
        let count = board.connections
        let start = abs(hint % count)
        for probe in 0..<count {
            let record = (start + probe) % count
            if cssd_atomic_cas64(connectionWord(board, record, 0), ConnectionState.free.rawValue,
                                 ConnectionState.claiming.rawValue) != 0 {
                cssd_atomic_store64(connectionWord(board, record, 1), 0)
                cssd_atomic_store64(connectionWord(board, record, 2), Int64(owner))
                return record
            }
        }
        return nil
    }

    /// Notes what the record now counts (`active`: also one in this board's open connections;
    /// `activeWithSource`: with `key`).
    func markConnection(slot: Int, record: Int, _ state: ConnectionState, key: UInt64 = 0) {
        guard let board = boards[slot], record < board.connections else { return }
        if state == .activeWithSource { cssd_atomic_store64(connectionWord(board, record, 1), Int64(bitPattern: key)) }
        let before = cssd_atomic_load64(connectionWord(board, record, 0))
        cssd_atomic_store64(connectionWord(board, record, 0), state.rawValue)
        if before <= 0, state.rawValue > 0 { addActive(slot: slot, 1) }
    }

    /// The process that will end the connection in `record` is `pid` now (a request child the
    /// worker forked for it).
    func handConnection(slot: Int, record: Int, to pid: pid_t) {
        guard let board = boards[slot], record < board.connections else { return }
        cssd_atomic_store64(connectionWord(board, record, 2), Int64(pid))
    }

    /// Frees `record` and returns what it counted (its state and source key), or nil when another
    /// process freed it first.
    func releaseConnection(slot: Int, record: Int) -> (state: ConnectionState, key: UInt64)? {
        guard let board = boards[slot], record < board.connections else { return nil }
        return release(board, slot: slot, record)
    }

    /// Frees every record held by `pid` (nil: by anyone) in `slot`, and returns what each counted.
    func releaseConnections(slot: Int, heldBy pid: pid_t? = nil) -> [(state: ConnectionState, key: UInt64)] {
        guard let board = boards[slot] else { return [] }
        var released: [(state: ConnectionState, key: UInt64)] = []
        for record in 0..<board.connections where cssd_atomic_load64(connectionWord(board, record, 0)) > 0 {
            if let pid, cssd_atomic_load64(connectionWord(board, record, 2)) != Int64(pid) { continue }
            if let freed = release(board, slot: slot, record) { released.append(freed) }
        }
        return released
    }

    private func release(_ board: Board, slot: Int, _ record: Int) -> (state: ConnectionState, key: UInt64)? {
        let word = connectionWord(board, record, 0)
        while true {
            let current = cssd_atomic_load64(word)
            guard current != ConnectionState.free.rawValue, let state = ConnectionState(rawValue: current) else { return nil }
            let key = UInt64(bitPattern: cssd_atomic_load64(connectionWord(board, record, 1)))
            if cssd_atomic_cas64(word, current, ConnectionState.free.rawValue) != 0 {
                if current > 0 { addActive(slot: slot, -1) }
                return (state, key)
            }
        }
    }

    private func connectionWord(_ board: Board, _ record: Int, _ word: Int) -> UnsafeMutablePointer<Int64> {
        (board.connectionBase + record * Scoreboard.connectionSize + word * 8).assumingMemoryBound(to: Int64.self)
    }
}
