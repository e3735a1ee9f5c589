// Counting each connection (or datagram) of a service: accepted, open, served, bytes, duration,
// refusals by reason, and its access log line when it ends.
#if canImport(Glibc)
import Glibc
#endif
import SocketServer

extension ServicePolicy {
    /// After getRequest: attaches the record the later hooks read.
    func attach(_ request: Request) -> Request {
        request.attaching(ConnectionRecord(started: monotonicNanoseconds()))
    }

    static func record(_ request: Request) -> ConnectionRecord? { request.context as? ConnectionRecord }

    /// verifyRequest: the limits (see `admit`). A refusal is counted by its reason and logged at
    /// most once per 10 s per reason; the server then closes the connection unread (drops the
    /// datagram), and `ended` writes its access line.
    func verify(_ request: Request) -> Bool {
        let record = Self.record(request) ?? ConnectionRecord(started: monotonicNanoseconds())
        guard let reason = admit(request, record) else { return true }
        refused(reason, request, record)
        return false
    }

    func refused(_ reason: RefusalReason, _ request: Request, _ record: ConnectionRecord?) {
        record?.result = .refused(reason)
        counters?.refuse(reason)
        let client = request.clientAddress
        switch reason {
        case .allow: events.record(.notAllowed) { "refused \(client) (not in allow)" }
        case .full: break  // report() logs it with the model's words
        default: events.record(Self.event(for: reason)) { "refused \(client) (\(reason.rawValue))" }
        }
    }

    /// A connection is counted as accepted once it is sure not to be refused as full: before it
    /// runs where nothing can refuse it (sync, fork), once handed over where the pool or the
    /// event loop may, or when it ends if that comes first (so `served` never runs ahead).
    var countsConnectionsFirst: Bool { service.concurrency == .sync || service.concurrency == .fork }

    /// Counts the connection as accepted, once, whichever thread comes first.
    func countConnection(_ record: ConnectionRecord?) {
        guard let record else { return }
        if !record.countedAsConnection.exchange(true, ordering: .relaxed) { counters?.add(.connections) }
    }

    /// shutdownRequest (after the connection is closed): counts how it ended, gives back what it
    /// held and writes its access line. A refused connection counts only in the refusals.
    func ended(_ request: Request) {
        guard let record = Self.record(request) else { return }
        let duration = monotonicNanoseconds() &- record.started
        let bytesIn = isDatagram ? UInt64(request.packet.count) : request.socket.bytesReceived
        var bytesOut: UInt64 = 0
        if case .refused(let reason) = record.result {
            if reason == .full { giveBack(record) }  // admitted, then the pool or loop had no room
        } else {
            bytesOut = isDatagram ? record.sentToAtStart.map { Socket.bytesSentToByThisThread &- $0 } ?? 0
                : request.socket.bytesSent
            countConnection(record)
            if let counters {
                counters.add(.served)
                counters.add(.receivedBytes, Int64(clamping: bytesIn))
                counters.add(.sentBytes, Int64(clamping: bytesOut))
                counters.recordDuration(nanoseconds: Int64(clamping: duration))
            }
            if let scoreboard, slot >= 0 { scoreboard.countServed(slot: slot) }
            giveBack(record)
        }
        guard AccessLog.shared.isOn else { return }
        let line = AccessLine(service: service.name, client: .address(request.clientAddress), worker: workerPID,
                              durationNanoseconds: duration, bytesIn: bytesIn, bytesOut: bytesOut, result: record.result)
        // A request child exits right after this: its line cannot wait for the worker's loop.
        if service.concurrency == .fork, CurrentProcess.id != workerPID { AccessLog.shared.writeNow([line]) } else { AccessLog.shared.append(line) }
    }

    /// How an error ends the request, for its access line.
    func noteFailure(_ error: any Error, _ request: Request) {
        guard let record = Self.record(request) else { return }
        if error is RequestRefused {
            refused(.full, request, record)
        } else if case SocketError.timeout = error {
            record.result = .timeout
        } else if Self.isReset(error) {
            record.result = .reset
        } else {
            record.result = .error
        }
    }

    /// Under concurrency = fork, in the worker: `pid` now serves `request` and ends it.
    func requestChildStarted(_ pid: pid_t, _ request: Request) {
        guard let board = Self.record(request)?.board, let scoreboard else { return }
        scoreboard.handConnection(slot: slot, record: board, to: pid)
    }

    /// A request child that died left its connections' records: give back what they counted, and
    /// write a `killed` line for each request it had not ended (since when, and whose).
    func giveBackChildConnections(_ pid: pid_t, unfinished: [(since: Int64, client: String)]) {
        guard let scoreboard, slot >= 0 else { return }
        for freed in scoreboard.releaseConnections(slot: slot, heldBy: pid) { giveBack(freed.state, key: freed.key) }
        guard AccessLog.shared.isOn else { return }
        let now = Int64(monotonicNanoseconds())
        for request in unfinished {
            AccessLog.shared.append(AccessLine(service: service.name, client: .text(request.client), worker: workerPID,
                                               durationNanoseconds: UInt64(max(0, now - request.since)), bytesIn: 0, bytesOut: 0,
                                               result: .killed))
        }
    }
}
