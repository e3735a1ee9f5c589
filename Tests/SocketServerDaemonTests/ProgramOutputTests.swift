// A program's output as the log gets it: whole lines, long ones cut, control characters shown,
// and a flood dropped beyond the rate with a count.
@testable import SocketServerDaemon
import XCTest

final class ProgramOutputTests: XCTestCase {
    final class Lines: @unchecked Sendable { var list: [String] = [] }

    func relay(clock: @escaping () -> UInt64 = { 0 }) -> (ProgramOutput, Lines) {
        let lines = Lines()
        return (ProgramOutput(descriptor: -1, clock: clock) { lines.list.append($0) }, lines)
    }

    func testLinesAreWrittenWholeAndTheLastOneAtTheEnd() {
        var (output, lines) = relay()
        output.take(Array("one\ntw".utf8)[...])
        XCTAssertEqual(lines.list, ["one"])
        output.take(Array("o\r\nthree\u{1b}[31m\tred".utf8)[...])
        XCTAssertEqual(lines.list, ["one", "two"])
        output.finish()
        XCTAssertEqual(lines.list, ["one", "two", "three?[31m\tred"])
    }

    func testALongLineIsCut() {
        var (output, lines) = relay()
        output.take(Array(repeating: UInt8(ascii: "x"), count: ProgramOutput.longestLine * 2 + 10)[...])
        XCTAssertEqual(lines.list.map(\.count), [ProgramOutput.longestLine, ProgramOutput.longestLine])
        output.finish()
        XCTAssertEqual(lines.list.map(\.count), [ProgramOutput.longestLine, ProgramOutput.longestLine, 10])
    }

    func testAFloodIsDroppedAndCounted() {
        final class Clock: @unchecked Sendable { var now: UInt64 = 0 }
        let clock = Clock()
        var (output, lines) = relay(clock: { clock.now })
        let burst = Int(ProgramOutput.burst)
        output.take(Array(String(repeating: "line\n", count: burst + 50).utf8)[...])
        XCTAssertEqual(lines.list.count, burst, "a burst passes, the rest is dropped")
        clock.now = 1_000_000_000  // a second later: room for linesPerSecond lines
        output.take(Array("after\n".utf8)[...])
        XCTAssertEqual(lines.list.suffix(2), ["(50 lines of output dropped: more than 100 lines per second)", "after"])
    }
}
