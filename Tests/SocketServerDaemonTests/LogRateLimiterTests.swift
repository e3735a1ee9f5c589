// The rate limiter of per-connection log lines with a made-up clock: one line per interval, every
// event counted in exactly one line, kinds and services apart, and counters shared across fork.
@testable import SocketServerDaemon
import SocketServer
import SocketServerHandlers
import Synchronization
import XCTest

/// A log that keeps its lines; `level` is the lowest written.
final class RecordingSink: LogSink {
    let lines = Mutex<[(level: LogLevel, text: String)]>([])
    let lowest: LogLevel
    init(lowest: LogLevel = .debug) { self.lowest = lowest }
    func enabled(_ level: LogLevel) -> Bool { level >= lowest }
    func log(_ level: LogLevel, _ message: String) { lines.withLock { $0.append((level, message)) } }
    var texts: [String] { lines.withLock { $0.map(\.text) } }
}

/// A clock the test moves (monotonic seconds).
final class TestClock: Sendable {
    let seconds = Atomic<Int64>(1000)
    func advance(_ by: Int64) { seconds.add(by, ordering: .relaxed) }
    var read: @Sendable () -> Int64 { { self.seconds.load(ordering: .relaxed) } }
}

final class LogRateLimiterTests: XCTestCase {
    var words = [Int64](repeating: 0, count: LogRateLimiter.wordCount)

    func limiter(_ sink: RecordingSink, _ clock: TestClock, words: UnsafeMutablePointer<Int64>) -> LogRateLimiter {
        LogRateLimiter(level: .info, prefix: "service s: ", what: "connections reset by their clients",
                       words: words, sink: sink, clock: clock.read)
    }

    func testOneLineAtOnceThenTheCountOnceTheIntervalHasPassed() {
        let sink = RecordingSink(), clock = TestClock()
        words.withUnsafeMutableBufferPointer { buffer in
            let limiter = limiter(sink, clock, words: buffer.baseAddress!)
            for index in 0..<2000 { limiter.record { "client \(index) reset the connection" } }
            limiter.flush()
            XCTAssertEqual(sink.texts, ["service s: client 0 reset the connection"])
            clock.advance(9)
            limiter.flush()
            XCTAssertEqual(sink.texts.count, 1, "a second line within the interval")
            clock.advance(1)
            limiter.flush()
            limiter.flush()
            XCTAssertEqual(sink.texts.last, "service s: 1999 more connections reset by their clients since the last such line (logged at most every 10 s)")
            XCTAssertEqual(sink.texts.count, 2)
            // Nothing counted since: the next interval writes nothing, and the next event is written at once.
            clock.advance(30)
            limiter.flush()
            XCTAssertEqual(sink.texts.count, 2)
            limiter.record { "client again reset the connection" }
            XCTAssertEqual(sink.texts.last, "service s: client again reset the connection")
        }
    }

    func testAnEventWhenALineIsDueCarriesTheCountBeforeIt() {
        let sink = RecordingSink(), clock = TestClock()
        words.withUnsafeMutableBufferPointer { buffer in
            let limiter = limiter(sink, clock, words: buffer.baseAddress!)
            for _ in 0..<5 { limiter.record { "first" } }
            clock.advance(10)
            limiter.record { "sixth" }  // no flush came between: this line accounts for 2…6
            XCTAssertEqual(sink.texts, [
                "service s: first",
                "service s: sixth (and 4 more connections reset by their clients since the last such line; logged at most every 10 s)",
            ])
            for _ in 0..<3 { limiter.record { "later" } }
            clock.advance(10)
            limiter.flush()
            XCTAssertEqual(sink.texts.last, "service s: 3 more connections reset by their clients since the last such line (logged at most every 10 s)")
        }
    }

    func testALevelNotLoggedBuildsNothing() {
        let sink = RecordingSink(lowest: .warning), clock = TestClock()
        words.withUnsafeMutableBufferPointer { buffer in
            let limiter = limiter(sink, clock, words: buffer.baseAddress!)
            limiter.record {
                XCTFail("message built for a level that is not logged")
                return ""
            }
            clock.advance(10)
            limiter.flush()
            XCTAssertEqual(sink.texts, [])
        }
    }

    func testEveryEventOfConcurrentThreadsIsCountedOnce() {
        let sink = RecordingSink(), clock = TestClock()
        words.withUnsafeMutableBufferPointer { buffer in
            let limiter = limiter(sink, clock, words: buffer.baseAddress!)
            DispatchQueue.concurrentPerform(iterations: 8) { thread in
                for index in 0..<5000 {
                    limiter.record { "event" }
                    if index % 500 == 0 { clock.advance(thread == 0 ? 10 : 0) }
                    if index % 100 == 0 { limiter.flush() }
                }
            }
            clock.advance(10)
            limiter.flush()
        }
        let total = sink.texts.reduce(0) { sum, line in
            if let range = line.range(of: " more connections") {
                let count = Int(line[..<range.lowerBound].split(whereSeparator: { !$0.isNumber }).last ?? "") ?? 0
                return sum + count + (line.contains("(and ") ? 1 : 0)
            }
            return sum + 1
        }
        XCTAssertEqual(total, 8 * 5000, sink.texts.joined(separator: "\n"))
    }

    func testServicesFindTheirOwnSlotAndForkedChildrenCountIntoIt() throws {
        let table = ServiceLogTable()
        let echo = try XCTUnwrap(table.words(for: "echo"))
        XCTAssertEqual(table.words(for: "echo"), echo, "the same service, the same words")
        let other = try XCTUnwrap(table.words(for: "upload"))
        XCTAssertNotEqual(other, echo)
        // A forked child (a request child under concurrency = fork) counts into the same memory.
        let sink = RecordingSink()
        let events = ServiceEventLog(service: "echo", table: table, sink: sink)
        events.record(.reset) { "first" }
        let child = fork()
        if child == 0 {
            for _ in 0..<100 { events.record(.reset) { "in the child" } }
            _exit(0)
        }
        XCTAssertGreaterThan(child, 0)
        var status: Int32 = 0
        XCTAssertEqual(waitpid(child, &status, 0), child)
        XCTAssertEqual(status, 0)
        XCTAssertEqual(echo[1 + ServiceEvent.reset.rawValue * LogRateLimiter.wordCount], 100, "the child's events are counted here")
        XCTAssertEqual(sink.texts, ["service echo: first"])
    }

    func testTheTableIsFullAfterItsSlots() {
        let table = ServiceLogTable()
        for index in 0..<ServiceLogTable.slots { XCTAssertNotNil(table.words(for: "service\(index)")) }
        XCTAssertNil(table.words(for: "one too many"))
        XCTAssertNotNil(table.words(for: "service7"), "a service that has its slot keeps it")
    }
}
