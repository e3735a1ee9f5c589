// A service's shared counters: the client table behind per_source and rate (claim, reuse, the
// limits), the rate's token bucket, how clients are grouped, and the duration histogram.
import Glibc
import SocketServer
import Synchronization
@testable import SocketServerDaemon
import XCTest

final class ServiceCountersTests: XCTestCase {
    private func makeCounters() throws -> ServiceCounters {
        try XCTUnwrap(ServiceCounters.create(service: "test"))
    }

    private func key(_ host: String) throws -> UInt64 {
        let address: SocketAddress = host.contains(":") ? .inet6(host: host, port: 1) : .inet(host: host, port: 1)
        return try XCTUnwrap(ServiceCounters.sourceKey(address), host)
    }

    /// `count` keys that all probe the same entry first.
    private func keysSharingAHome(_ count: Int) -> [UInt64] {
        var byHome: [Int: [UInt64]] = [:]
        var candidate: UInt64 = 0x8000_0000_0a00_0000  // 10.0.0.0 onwards, as IPv4 keys are
        while true {
            candidate += 1
            let home = ServiceCounters.home(candidate)
            byHome[home, default: []].append(candidate)
            if byHome[home]!.count == count { return byHome[home]! }
        }
    }

    func testPerSourceCountsEachClientUpToItsLimit() throws {
        let counters = try makeCounters()
        let client = try key("192.0.2.7")
        let other = try key("192.0.2.8")
        XCTAssertEqual(counters.openSource(client, limit: 2), .counted)
        XCTAssertEqual(counters.openSource(client, limit: 2), .counted)
        XCTAssertEqual(counters.openSource(client, limit: 2), .refused, "a third connection at once from one client")
        XCTAssertEqual(counters.openSource(other, limit: 2), .counted, "another client has its own count")
        XCTAssertEqual(counters.openFromSource(client), 2)
        counters.closeSource(client)
        XCTAssertEqual(counters.openFromSource(client), 1)
        XCTAssertEqual(counters.openSource(client, limit: 2), .counted, "a closed connection makes room")
        XCTAssertEqual(counters.openFromSource(other), 1)
    }

    func testAFullNeighbourhoodLetsANewClientThroughUntilAnEntryIsIdle() throws {
        let counters = try makeCounters()
        let keys = keysSharingAHome(ServiceCounters.sourceProbes + 1)
        let now: Int64 = 1_000_000_000
        for key in keys.dropLast() { XCTAssertEqual(counters.openSource(key, limit: 1, now: now), .counted) }
        let late = keys.last!
        XCTAssertEqual(counters.openSource(late, limit: 1, now: now), .untracked, "every entry it may use is busy")
        XCTAssertTrue(counters.takeRateToken(late, interval: .seconds(1), burst: 1, now: now), "untracked: not rate limited either")

        // An entry whose client has nothing open and no rate debt goes to the new client.
        counters.closeSource(keys[5])
        XCTAssertEqual(counters.openSource(late, limit: 1, now: now), .counted)
        XCTAssertEqual(counters.openSource(late, limit: 1, now: now), .refused, "the reused entry counts for the new client")
        XCTAssertEqual(counters.openFromSource(keys[5]), 0, "the old client lost its idle entry")
        XCTAssertEqual(counters.openFromSource(keys[6]), 1, "busy clients keep theirs")
    }

    func testAnEntryWithRateDebtIsNotReused() throws {
        let counters = try makeCounters()
        let keys = keysSharingAHome(ServiceCounters.sourceProbes + 1)
        let now: Int64 = 5_000_000_000
        for key in keys.dropLast() { XCTAssertTrue(counters.takeRateToken(key, interval: .seconds(10), burst: 1, now: now)) }
        XCTAssertEqual(counters.openSource(keys.last!, limit: 1, now: now), .untracked, "every entry still owes tokens")
        XCTAssertEqual(counters.openSource(keys.last!, limit: 1, now: now + 10_000_000_000), .counted, "once repaid, one is reused")
    }

    func testClientsRacingForANewEntryShareOne() throws {
        let counters = try makeCounters()
        // Round after round, two threads let go at the same instant ask for the same new client.
        let rounds = 1000
        let arrived = Atomic<Int>(0)
        let counted = PosixMutex([Int](repeating: 0, count: rounds))
        let threads = try (0..<2).map { _ in
            try PosixThread.start {
                for round in 0..<rounds {
                    arrived.add(1, ordering: .acquiringAndReleasing)
                    while arrived.load(ordering: .acquiring) < 2 * (round + 1) {}
                    let key = UInt64(0x8000_0000_c633_0000) + UInt64(round)  // 198.51.0.0 onwards
                    if counters.openSource(key, limit: 1) == .counted { counted.withLock { $0[round] += 1 } }
                }
            }
        }
        for thread in threads { thread.join() }
        let twice = counted.withLock { $0 }.filter { $0 != 1 }.count
        XCTAssertEqual(twice, 0, "a client counted in two entries gets twice its limit")
    }

    func testRateAllowsABurstThenOneTokenPerInterval() throws {
        let counters = try makeCounters()
        let client = try key("203.0.113.9")
        let second: Int64 = 1_000_000_000
        let start: Int64 = 100 * second
        let rate = try XCTUnwrap(RateLimit("3/s"))
        func take(at time: Int64) -> Bool { counters.takeRateToken(client, interval: rate.interval, burst: rate.count, now: time) }
        XCTAssertEqual((0..<3).map { _ in take(at: start) }, [true, true, true], "a burst of N")
        XCTAssertFalse(take(at: start), "the fourth at once is refused")
        XCTAssertFalse(take(at: start + second / 3 - 1), "no token before a third of a second")
        XCTAssertTrue(take(at: start + second / 3), "one token back after a third of a second")
        XCTAssertFalse(take(at: start + second / 3), "and only one")
        // Refusals took nothing: a full second later the bucket holds N again, never more.
        XCTAssertEqual((0..<4).map { _ in take(at: start + 10 * second) }, [true, true, true, false])
        XCTAssertTrue(try counters.takeRateToken(key("203.0.113.10"), interval: rate.interval, burst: rate.count, now: start),
                      "another client has its own bucket")
    }

    func testRatePerMinute() throws {
        let rate = try XCTUnwrap(RateLimit("2/m"))
        XCTAssertEqual(rate.interval, .seconds(30))
        let counters = try makeCounters()
        let client = try key("203.0.113.1")
        let start: Int64 = 1_000 * 1_000_000_000
        XCTAssertTrue(counters.takeRateToken(client, interval: rate.interval, burst: rate.count, now: start))
        XCTAssertTrue(counters.takeRateToken(client, interval: rate.interval, burst: rate.count, now: start))
        XCTAssertFalse(counters.takeRateToken(client, interval: rate.interval, burst: rate.count, now: start + 29_000_000_000))
        XCTAssertTrue(counters.takeRateToken(client, interval: rate.interval, burst: rate.count, now: start + 30_000_000_000))
    }

    func testIPv6ClientsAreGroupedByTheirSlash64() throws {
        XCTAssertEqual(try key("2001:db8:1:2::1"), try key("2001:db8:1:2:ffff:ffff:ffff:ffff"), "one /64, one client")
        XCTAssertNotEqual(try key("2001:db8:1:2::1"), try key("2001:db8:1:3::1"), "the next /64 is another client")
        XCTAssertEqual(try key("::ffff:127.0.0.1"), try key("127.0.0.1"), "a v4-mapped client is its IPv4 address")
        XCTAssertNotEqual(try key("127.0.0.1"), try key("127.0.0.2"), "each IPv4 address is a client")
        let loopback = try key("::1")
        XCTAssertNotEqual(loopback, 0, "0 marks a free entry")
        XCTAssertNotEqual(loopback, try key("0.0.0.0"))
        XCTAssertNil(ServiceCounters.sourceKey(.unix(path: "/run/x.sock")), "unix clients have no address")
        let counters = try makeCounters()
        XCTAssertEqual(counters.openSource(try key("2001:db8::1"), limit: 1), .counted)
        XCTAssertEqual(counters.openSource(try key("2001:db8::2"), limit: 1), .refused, "a neighbour in the /64 shares the count")
    }

    func testMaxConnectionsHoldsAcrossCallers() throws {
        let counters = try makeCounters()
        XCTAssertTrue(counters.openConnection(limit: 2))
        XCTAssertTrue(counters.openConnection(limit: 2))
        XCTAssertFalse(counters.openConnection(limit: 2))
        XCTAssertEqual(counters[.active], 2, "a refusal does not count as open")
        counters.closeConnection()
        XCTAssertTrue(counters.openConnection(limit: 2))
        XCTAssertTrue(counters.openConnection(limit: nil), "no limit")
        XCTAssertEqual(counters[.active], 3)
    }

    func testDurationHistogramBuckets() throws {
        let counters = try makeCounters()
        let milliseconds: Int64 = 1_000_000
        for duration in [milliseconds / 2, milliseconds, 2 * milliseconds, 500 * milliseconds, 61_000 * milliseconds] {
            counters.recordDuration(nanoseconds: duration)
        }
        XCTAssertEqual(ServiceCounters.durationBuckets, [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 60])
        // ≤ 1 ms (two: a bucket holds its upper bound), ≤ 5 ms, …, ≤ 0.5 s, and +Inf.
        XCTAssertEqual(counters.cumulativeBuckets(), [2, 3, 3, 3, 3, 4, 4, 4, 4, 4, 5])
        XCTAssertEqual(counters[.durationCount], 5)
        XCTAssertEqual(counters[.durationNanoseconds], 61_503 * milliseconds + milliseconds / 2)
    }

    func testRefusalsAreCountedByReason() throws {
        let counters = try makeCounters()
        counters.refuse(.perSource)
        counters.refuse(.perSource)
        counters.refuse(.rate)
        XCTAssertEqual(RefusalReason.allCases.map { counters.refusals($0) }, [0, 0, 2, 0, 1, 0])
        XCTAssertEqual(RefusalReason.allCases.map(\.rawValue), ["allow", "deny", "per_source", "max_connections", "rate", "full"])
    }

    func testAnAdoptedMappingSharesTheCounts() throws {
        let counters = try makeCounters()
        counters.add(.served, 7)
        let copy = try XCTUnwrap(ServiceCounters.adopt(dup(counters.descriptor)))
        copy.add(.served)
        XCTAssertEqual(counters[.served], 8)
    }
}
