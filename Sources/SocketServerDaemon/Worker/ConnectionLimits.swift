// A service's limits on who may connect and how much: deny, allow, max_connections, per_source,
// rate, checked in that order when a connection (or datagram) arrives.
#if canImport(Glibc)
import Glibc
#endif
import SocketServer
import Synchronization

/// What one connection (or datagram) carries from its accept to its end: the worker attaches it in
/// `getRequest` and every later hook reads it (`Request.context`). Touched by one thread at a
/// time (the accept loop, then the thread or event loop serving it).
final class ConnectionRecord: @unchecked Sendable {
    /// When it was accepted (monotonic ns).
    let started: UInt64
    /// Its record on the worker's board (nil: untracked, no board or no room).
    var board: Int? = nil
    /// What admission counted (given back at the end), and the client's source key.
    var counted: Scoreboard.ConnectionState = .free
    var sourceKey: UInt64 = 0
    /// How it ended so far: ok until a refusal or an error says otherwise.
    var result: AccessResult = .ok
    /// For a datagram: the thread's `sendTo` count when its handler started.
    var sentToAtStart: UInt64? = nil
    /// Set by whichever thread counts it as accepted first (the accept loop, or the one ending it).
    let countedAsConnection = Atomic<Bool>(false)

    init(started: UInt64) { self.started = started }
}

extension ServicePolicy {
    /// Checks `deny`, `allow`, `max_connections`, `per_source` and `rate` in that order and returns
    /// the first that refuses, or nil when the connection may be served: it is then counted as
    /// open (the service's `active`, the worker's board, its client's connections). A refused one
    /// holds nothing, and only a connection every other limit lets through takes a rate token.
    func admit(_ request: Request, _ record: ConnectionRecord) -> RefusalReason? {
        let client = request.clientAddress
        if !service.deny.isEmpty, service.deny.contains(where: { $0.contains(client) }) { return .deny }
        if !service.allow.isEmpty, !service.allow.contains(where: { $0.contains(client) }) { return .allow }
        if let scoreboard, slot >= 0 {
            let hint = isDatagram ? nextDatagramHint() : Int(request.socket.fileno())
            record.board = scoreboard.claimConnection(slot: slot, hint: hint)
        }
        if let counters, !counters.openConnection(limit: service.maxConnections > 0 ? service.maxConnections : nil) {
            giveBack(record)
            return .maxConnections
        }
        mark(record, .active)
        guard service.perSource > 0 || service.rate != nil, let counters,
              let key = ServiceCounters.sourceKey(client) else { return nil }
        if service.perSource > 0 {
            switch counters.openSource(key, limit: service.perSource) {
            case .refused:
                giveBack(record)
                return .perSource
            case .counted:
                mark(record, .activeWithSource, key: key)
            case .untracked:
                events.record(.untracked) { "client table full: \(client) is not limited by per_source" }
            }
        }
        if let rate = service.rate, !counters.takeRateToken(key, interval: rate.interval, burst: rate.count) {
            giveBack(record)
            return .rate
        }
        return nil
    }

    private func mark(_ record: ConnectionRecord, _ state: Scoreboard.ConnectionState, key: UInt64 = 0) {
        record.counted = state
        record.sourceKey = key
        if let board = record.board { scoreboard?.markConnection(slot: slot, record: board, state, key: key) }
    }

    /// Gives back what admission counted for `record`, once: from its board record when it has one
    /// (whoever frees that first gives back), else from what the record itself noted.
    func giveBack(_ record: ConnectionRecord) {
        if let board = record.board, let scoreboard {
            record.board = nil
            if let freed = scoreboard.releaseConnection(slot: slot, record: board) { giveBack(freed.state, key: freed.key) }
        } else {
            giveBack(record.counted, key: record.sourceKey)
        }
        record.counted = .free
    }

    /// Gives back one connection's share of the service's counters.
    func giveBack(_ state: Scoreboard.ConnectionState, key: UInt64) {
        guard let counters, state == .active || state == .activeWithSource else { return }
        counters.closeConnection()
        if state == .activeWithSource { counters.closeSource(key) }
    }

    /// The log line kind for a refusal.
    static func event(for reason: RefusalReason) -> ServiceEvent {
        switch reason {
        case .allow: return .notAllowed
        case .deny: return .denied
        case .maxConnections: return .maxConnections
        case .perSource: return .perSource
        case .rate: return .rate
        case .full: return .full
        }
    }
}
