// The access log's lines (logfmt) and its buffer: nothing reaches the file until a flush, which
// writes every pending line whole; off means nothing is written.
import Foundation
import Glibc
import SocketServer
import SocketServerTestSupport
@testable import SocketServerDaemon
import XCTest

final class AccessLogTests: XCTestCase {
    private var scratch: TemporaryDirectory? = nil
    private var path: String { scratch?.file("access.log") ?? "" }

    override func setUpWithError() throws { scratch = try TemporaryDirectory("ssd-access") }

    override func tearDown() { scratch = nil }

    func read(_ path: String) -> String { readText(path) }

    /// An access log appending to `path`.
    func fileLog() -> AccessLog {
        let accessLog = AccessLog()
        accessLog.install(open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644))
        return accessLog
    }

    func testALineHasEveryFieldInOrder() {
        let line = AccessLine(service: "echo", client: .address(.inet(host: "127.0.0.1", port: 50312)), worker: 4242, durationNanoseconds: 12_345_678,
                              bytesIn: 16, bytesOut: 17, result: .ok).text
        let pattern = #"^ts=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z service=echo client=127\.0\.0\.1:50312 worker=4242 "#
            + #"duration=0\.012 bytes_in=16 bytes_out=17 result=ok\n$"#
        XCTAssertNotNil(line.range(of: pattern, options: .regularExpression), line)
    }

    func testResultsAndDurationsAreSpelledAsDocumented() {
        XCTAssertEqual([AccessResult.ok, .refused(.perSource), .refused(.maxConnections), .timeout, .reset, .error, .killed].map(\.description),
                       ["ok", "refused:per_source", "refused:max_connections", "timeout", "reset", "error", "killed"])
        XCTAssertEqual(AccessLine.seconds(0), "0.000")
        XCTAssertEqual(AccessLine.seconds(499_999), "0.000")
        XCTAssertEqual(AccessLine.seconds(500_000), "0.001")
        XCTAssertEqual(AccessLine.seconds(61_250_000_000), "61.250")
    }

    func testTimestampsAreUTCCivilDates() {
        func text(_ seconds: Int64, _ milliseconds: Int = 0) -> String {
            var bytes: [UInt8] = []
            AccessLine.timestamp(seconds: seconds, milliseconds: milliseconds, into: &bytes)
            return String(decoding: bytes, as: UTF8.self)
        }
        XCTAssertEqual(text(0), "1970-01-01T00:00:00.000Z")
        XCTAssertEqual(text(1_796_205_600, 123), "2026-12-02T10:00:00.123Z")
        XCTAssertEqual(text(951_868_799, 999), "2000-02-29T23:59:59.999Z", "a leap day")
        XCTAssertEqual(text(4_107_542_400, 7), "2100-03-01T00:00:00.007Z", "2100 is not a leap year")
        XCTAssertEqual(text(-1), "1969-12-31T23:59:59.000Z")
        // And now, as the C library says it is.
        var now = time(nil)
        var parts = tm()
        gmtime_r(&now, &parts)
        let expected = String(format: "%04d-%02d-%02dT%02d:%02d:%02d.000Z", parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday,
                              parts.tm_hour, parts.tm_min, parts.tm_sec)
        XCTAssertEqual(text(Int64(now)), expected)
        XCTAssertEqual(AccessLine.seconds(0), "0.000")
    }

    func testEveryKindOfClientIsWrittenAsItsAddress() {
        func client(_ client: AccessLine.Client) -> String? {
            let text = AccessLine(service: "s", client: client, worker: 1, durationNanoseconds: 0, bytesIn: 0, bytesOut: 0,
                                  result: .refused(.rate)).text
            XCTAssertTrue(text.hasSuffix(" result=refused:rate\n"), text)
            return text.components(separatedBy: " client=").last?.components(separatedBy: " worker=").first
        }
        XCTAssertEqual(client(.address(.inet(host: "192.0.2.1", port: 7))), "192.0.2.1:7")
        XCTAssertEqual(client(.address(.inet6(host: "::1", port: 80))), "[::1]:80")
        XCTAssertEqual(client(.address(.unix(path: ""))), "(unnamed)")
        XCTAssertEqual(client(.address(.unix(path: "/run/my app.sock"))), "\"/run/my app.sock\"")
        XCTAssertEqual(client(.text("127.0.0.1:5")), "127.0.0.1:5")
    }

    func testValuesThatNeedQuotesAreQuoted() {
        XCTAssertEqual(AccessLine.value("[::1]:80"), "[::1]:80")
        XCTAssertEqual(AccessLine.value("/run/my app.sock"), "\"/run/my app.sock\"")
        XCTAssertEqual(AccessLine.value(""), "\"\"")
        XCTAssertEqual(AccessLine.value("a=\"b\"\\"), #""a=\"b\"\\""#)
        XCTAssertEqual(AccessLine.value("x\ny"), #""x\ny""#)
        XCTAssertEqual(AccessLine.value("tab\there"), #""tab\u{9}here""#)
    }

    func testLinesWaitInMemoryUntilFlushedWhole() throws {
        let accessLog = fileLog()
        XCTAssertTrue(accessLog.isOn)
        accessLog.flushIfDue()  // the loop's turn before
        accessLog.append("first\n")
        accessLog.flushIfDue()  // the oldest line is fresh and the loop was not idle
        accessLog.append("second\n")
        XCTAssertEqual(read(path), "", "a request's line never waits for the file")
        accessLog.flush()
        XCTAssertEqual(read(path), "first\nsecond\n")
        accessLog.writeNow("child\n")
        XCTAssertEqual(read(path), "first\nsecond\nchild\n")
    }

    func testALotPendingIsWrittenAtTheNextTurn() throws {
        let accessLog = fileLog()
        accessLog.flushIfDue()
        let line = String(repeating: "x", count: 99) + "\n"
        for _ in 0..<(AccessLog.flushSize / 100 + 1) { accessLog.append(line) }
        accessLog.flushIfDue()
        XCTAssertEqual(read(path).count, (AccessLog.flushSize / 100 + 1) * 100)
    }

    func testOverAPipeEveryLineArrivesWhole() throws {
        var fds: [Int32] = [-1, -1]
        XCTAssertEqual(pipe(&fds), 0)
        defer { close(fds[0]) }
        let accessLog = AccessLog()
        accessLog.install(fds[1])
        // More than PIPE_BUF, in lines of varied lengths; the reader drains as the writer writes.
        let lines = (0..<300).map { "line=\($0) " + String(repeating: "y", count: $0 % 97) + "\n" }
        for line in lines { accessLog.append(line) }
        let reader = try PosixThreadReader(fd: fds[0])
        accessLog.flush()
        accessLog.install(nil)  // closes the write end: the reader sees the end
        XCTAssertFalse(accessLog.isOn)
        XCTAssertEqual(reader.text(), lines.joined())
    }

    func testOffWritesNothing() throws {
        let accessLog = fileLog()
        accessLog.install(nil)
        accessLog.append("dropped\n")
        accessLog.flush()
        XCTAssertEqual(read(path), "")
    }
}

/// Reads a descriptor to its end on a thread of its own.
private final class PosixThreadReader: @unchecked Sendable {
    private let collected = PosixMutex([UInt8]())
    private var thread: PosixThread? = nil

    init(fd: Int32) throws {
        thread = try PosixThread.start { [collected] in
            var buffer = [UInt8](repeating: 0, count: 1000)
            while true {
                let count = Glibc.read(fd, &buffer, buffer.count)
                if count <= 0 { break }
                collected.withLock { $0 += buffer[..<count] }
            }
        }
    }

    /// What was read, once the writer closed its end.
    func text() -> String {
        thread?.join()
        return String(decoding: collected.withLock { $0 }, as: UTF8.self)
    }
}
