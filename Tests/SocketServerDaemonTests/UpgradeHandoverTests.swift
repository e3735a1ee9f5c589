// What one image of the master hands to the next: the text survives any name, and a damaged state
// is refused with a message rather than half-read.
@testable import SocketServerDaemon
import XCTest

final class UpgradeHandoverTests: XCTestCase {
    func testTheStateSurvivesItsEncoding() throws {
        var state = UpgradeHandover()
        state.generation = 7
        state.extraWorkers = -1
        state.pidFile = "/run/with space/\nnew line ✓.pid"
        state.sockets = [(fd: 6, systemd: false, address: "unix:/run/a b.sock"), (fd: 9, systemd: true, address: "tcp://[::1]:80")]
        state.workers = [
            .init(pid: 100, service: "echo", generation: 7, slot: 0, board: 5, entries: 32, channel: (10, 11), retiring: false, ready: true,
                  killInNanoseconds: nil),
            .init(pid: 101, service: "a b", generation: 6, slot: nil, retiring: true, ready: true, killInNanoseconds: -5,
                  ageNanoseconds: 86_400_000_000_000),
        ]
        XCTAssertEqual(try UpgradeHandover.decode(state.encoded()), state)
        state.logPage = 4
        XCTAssertEqual(try UpgradeHandover.decode(state.encoded()), state)
        XCTAssertEqual(state.descriptors, [4, 6, 9, 5, 10, 11])
        state.control = (fd: 12, path: "/run/socketserverd/control sock")
        XCTAssertEqual(try UpgradeHandover.decode(state.encoded()), state)
        XCTAssertEqual(state.descriptors, [4, 12, 6, 9, 5, 10, 11])
        state.programs = [.init(pid: 101, stopSignal: 3, startTimeoutNanoseconds: 30_000_000_000, output: 13, notify: -1,
                                failedToStart: true)]
        XCTAssertEqual(try UpgradeHandover.decode(state.encoded()), state)
        XCTAssertEqual(state.descriptors, [4, 12, 6, 9, 5, 10, 11, 13], "a program's output pipe crosses the exec")
    }

    /// A worker line without its age (written by an image that did not hand it over) reads as age 0.
    func testAWorkerLineWithoutItsAgeStillReads() throws {
        let text = UpgradeHandover.header + "\nworker 100 \(UpgradeHandover.hex("echo")) 3 0 0 1 - 5 32 10 11\n"
        let state = try UpgradeHandover.decode(text)
        XCTAssertEqual(state.workers.first?.pid, 100)
        XCTAssertEqual(state.workers.first?.ageNanoseconds, 0)
    }

    func testADamagedStateIsRefused() {
        XCTAssertThrowsError(try UpgradeHandover.decode("something else\n"))
        XCTAssertThrowsError(try UpgradeHandover.decode(UpgradeHandover.header + "\nworker 1 zz 1\n"))
        XCTAssertThrowsError(try UpgradeHandover.decode(UpgradeHandover.header + "\nmystery 1\n"))
    }
}
