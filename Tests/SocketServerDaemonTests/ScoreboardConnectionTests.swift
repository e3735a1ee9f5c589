// A worker's board keeps a record per open connection, so that what the connection counted is
// given back exactly once: by the process that ends it, or by whoever finds its process dead.
import Glibc
@testable import SocketServerDaemon
import XCTest

final class ScoreboardConnectionTests: XCTestCase {
    func testRecordsAreClaimedUpToTheBoardsSize() throws {
        let scoreboard = Scoreboard()
        let slot = try XCTUnwrap(scoreboard.claimSlot(entries: 1, connections: 3))
        defer { scoreboard.releaseSlot(slot) }
        let records = (0..<3).compactMap { _ in scoreboard.claimConnection(slot: slot, hint: 7) }
        XCTAssertEqual(Set(records).count, 3, "the same hint still finds a free record")
        XCTAssertNil(scoreboard.claimConnection(slot: slot, hint: 7), "every record is taken")
        XCTAssertEqual(scoreboard.counts(in: slot).active, 0, "a record being filled in counts nothing yet")
        scoreboard.markConnection(slot: slot, record: records[0], .active)
        scoreboard.markConnection(slot: slot, record: records[1], .activeWithSource, key: 42)
        XCTAssertEqual(scoreboard.counts(in: slot).active, 2, "the worker's open connections, for status")
    }

    func testARecordIsGivenBackOnce() throws {
        let scoreboard = Scoreboard()
        let slot = try XCTUnwrap(scoreboard.claimSlot(entries: 1, connections: 4))
        defer { scoreboard.releaseSlot(slot) }
        let record = try XCTUnwrap(scoreboard.claimConnection(slot: slot, hint: 0))
        scoreboard.markConnection(slot: slot, record: record, .activeWithSource, key: 0x8000_0000_7f00_0001)
        let freed = try XCTUnwrap(scoreboard.releaseConnection(slot: slot, record: record))
        XCTAssertEqual(freed.state, .activeWithSource)
        XCTAssertEqual(freed.key, 0x8000_0000_7f00_0001)
        XCTAssertNil(scoreboard.releaseConnection(slot: slot, record: record), "a second release gives nothing back")
        XCTAssertTrue(scoreboard.releaseConnections(slot: slot).isEmpty, "nor does the master's sweep")
        XCTAssertEqual(scoreboard.counts(in: slot).active, 0)
    }

    func testARequestChildsRecordsAreItsOwn() throws {
        let scoreboard = Scoreboard()
        let slot = try XCTUnwrap(scoreboard.claimSlot(entries: 2, connections: 4))
        defer { scoreboard.releaseSlot(slot) }
        let mine = try XCTUnwrap(scoreboard.claimConnection(slot: slot, hint: 0))
        let childs = try XCTUnwrap(scoreboard.claimConnection(slot: slot, hint: 1))
        scoreboard.markConnection(slot: slot, record: mine, .active)
        scoreboard.markConnection(slot: slot, record: childs, .activeWithSource, key: 9)
        scoreboard.handConnection(slot: slot, record: childs, to: 4242)
        let freed = scoreboard.releaseConnections(slot: slot, heldBy: 4242)
        XCTAssertEqual(freed.map(\.key), [9], "only the dead child's connection")
        XCTAssertEqual(scoreboard.counts(in: slot).active, 1)
        XCTAssertEqual(scoreboard.releaseConnections(slot: slot).map(\.state), [.active], "the worker's is left for its end")
    }

    func testAnAdoptedBoardKeepsItsRecords() throws {
        let scoreboard = Scoreboard()
        let slot = try XCTUnwrap(scoreboard.claimSlot(entries: 3, connections: 5))
        let record = try XCTUnwrap(scoreboard.claimConnection(slot: slot, hint: 4))
        scoreboard.markConnection(slot: slot, record: record, .active)
        let (descriptor, entries) = try XCTUnwrap(scoreboard.handover(slot))
        let adopted = Scoreboard()
        XCTAssertTrue(adopted.adopt(slot: slot, descriptor: dup(descriptor), entries: entries))
        defer { adopted.releaseSlot(slot); scoreboard.releaseSlot(slot) }
        XCTAssertEqual(adopted.counts(in: slot).active, 1)
        XCTAssertEqual(adopted.releaseConnections(slot: slot).map(\.state), [.active], "the new image gives it back when the worker dies")
        XCTAssertEqual(adopted.boards[slot]?.connections, 5, "the records' count comes from the memfd's size")
    }
}
