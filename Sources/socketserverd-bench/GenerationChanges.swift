// New generations of a running daemon, by reload (SIGHUP) or binary upgrade (SIGUSR2): each change
// is timed from the signal until a worker of the new generation serves, under a client loop whose
// errors count against it. Times come from the daemon's log (at log_level debug).
#if canImport(Glibc)
import Glibc
#endif
import SocketServer

/// How a new generation is asked for, and what the master logs once it has started it.
enum GenerationChange: Hashable {
    case reload
    case upgrade

    var signal: Int32 { self == .reload ? SIGHUP : SIGUSR2 }
    var signalName: String { self == .reload ? "SIGHUP" : "USR2" }
    var noun: String { self == .reload ? "reloads" : "upgrades" }
    /// "reloaded: generation N, …" or "upgraded: socketserverd V (PATH), generation N; …".
    var masterLine: String { self == .reload ? "reloaded: " : "upgraded: " }
    /// The target for the slowest change, signal to serving (ms).
    var targetMs: Int { self == .reload ? 200 : 300 }
}

/// What a series of changes measured, each time from the signal (ms).
struct ChangeTimings {
    /// To the first worker of the new generation serving the listener (in its accept loop).
    var servingMs: [Double] = []
    /// To the first request a new-generation worker served (sync, threads, events; a fork child logs its own pid).
    var firstReplyMs: [Double] = []
    /// To the master's line for the new generation (`GenerationChange.masterLine`).
    var masterLineMs: [Double] = []
    var attempted = 0
    /// The client loop over the whole series.
    var loop = LoadResult()
}

/// `count` changes in a row under a paced client loop (4 clients, 4000 connections/s); each waits
/// until the new generation serves, then until the old one has left. The daemon must run at
/// log_level debug: a worker logs "worker PID serving ADDRESS" in its accept loop and per request.
func measureChanges(_ change: GenerationChange, count: Int, on server: RunningServer, context: BenchContext) throws -> ChangeTimings {
    var result = ChangeTimings()
    guard count > 0 else { return result }
    // A connection per request, until stopped (duration 0).
    let loopSpec = LoadSpec(endpoint: server.endpoint, keepAlive: false, clients: 4, warmup: 0, duration: 0, threads: 1, rate: 4000)
    let loop = try LoadProcess(loopSpec, context: context)
    sleepSeconds(0.05)
    let follower = LogFollower(path: server.logPath)
    let forking = server.spec.kind == .daemon(concurrency: "fork")
    let workerCount = server.workerPIDs.count
    for _ in 1...count {
        let generation = server.generation + 1
        result.attempted += 1
        var fresh: Set<pid_t> = []
        var masterLineAt: Double? = nil
        var servingAt: Double? = nil
        var repliedAt: Double? = nil
        var listening: [pid_t: Double?] = [:]
        var served: [pid_t: Double?] = [:]
        let sentAt = realtimeMilliseconds()
        kill(server.pid, change.signal)
        let deadline = monotonicNanoseconds() + 5_000_000_000
        while (servingAt == nil || masterLineAt == nil || (repliedAt == nil && !forking)) && monotonicNanoseconds() < deadline {
            // Drain sd_notify as systemd does: a full datagram queue (net.unix.max_dgram_qlen, 10)
            // blocks the master in sendto (RELOADING=1 and READY=1 per reload, READY=1 per upgrade).
            _ = server.notify?.drain()
            for line in follower.newLines() {
                if line.contains("started for service"), line.hasSuffix("(generation \(generation))"),
                   let pid = number(after: "info: worker ", in: line) {
                    fresh.insert(pid)
                } else if line.contains(change.masterLine), number(after: "generation ", in: line) == pid_t(generation) {
                    masterLineAt = logTimestamp(line)
                } else if line.contains(" serving "), let pid = number(after: ": worker ", in: line) {
                    // "worker P serving tcp://…" when a worker enters its accept loop; "worker P serving
                    // CLIENT" for each request it serves. A new worker may log before the master logs
                    // that it started it, so lines are kept until the pid is known.
                    let time = logTimestamp(line)
                    if line.contains(" serving tcp://") || line.contains(" serving unix:") {
                        if listening[pid] == nil { listening[pid] = time }
                    } else if served[pid] == nil {
                        served[pid] = time
                    }
                }
            }
            servingAt = fresh.compactMap { listening[$0] ?? nil }.min()
            repliedAt = fresh.compactMap { served[$0] ?? nil }.min()
            usleep(500)
        }
        if !fresh.isEmpty { server.generation = generation }
        if let masterLineAt { result.masterLineMs.append(max(0, masterLineAt - sentAt)) }
        if let servingAt { result.servingMs.append(max(0, servingAt - sentAt)) }
        if let repliedAt { result.firstReplyMs.append(max(0, repliedAt - sentAt)) }
        // Let the old generation leave before the next change, so that workers don't pile up (and
        // the master takes the next signal: it ignores USR2 while a change is in progress).
        let settle = monotonicNanoseconds() + 2_000_000_000
        while server.workerPIDs.count > workerCount && monotonicNanoseconds() < settle {
            reapExited()
            usleep(1000)
        }
    }
    result.loop = try loop.stop()
    progress("   \(change.noun): \(result.servingMs.count)/\(count) new generations serving; \(change.signalName)→serving median "
             + "\(milliseconds(median(result.servingMs))) max \(milliseconds(result.servingMs.max())); "
             + "→\(change.masterLine)max \(milliseconds(result.masterLineMs.max())); "
             + "client loop \(result.loop.requests) requests, \(result.loop.errors) errors")
    return result
}

/// The upper median (of an even count, the higher of the middle two), as the tables show it.
func median(_ values: [Double]) -> Double? {
    let sorted = values.sorted()
    return sorted.isEmpty ? nil : sorted[sorted.count / 2]
}

/// Parses the log's `2026-11-23T11:30:00.123Z` timestamp into Unix milliseconds.
func logTimestamp(_ line: Substring) -> Double? {
    let text = Array(line.prefix(24).utf8)
    guard text.count >= 24, text[4] == UInt8(ascii: "-"), text[10] == UInt8(ascii: "T"), text[23] == UInt8(ascii: "Z") else { return nil }
    func number(_ range: Range<Int>) -> Int? {
        var value = 0
        for byte in text[range] {
            guard byte >= 48 && byte <= 57 else { return nil }
            value = value * 10 + Int(byte - 48)
        }
        return value
    }
    guard let year = number(0..<4), let month = number(5..<7), let day = number(8..<10), let hour = number(11..<13),
          let minute = number(14..<16), let second = number(17..<19), let millis = number(20..<23) else { return nil }
    // Days since 1970-01-01 (Howard Hinnant's days_from_civil).
    let y = month <= 2 ? year - 1 : year
    let era = (y >= 0 ? y : y - 399) / 400
    let yoe = y - era * 400
    let doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
    let days = era * 146097 + doe - 719468
    return Double(((days * 24 + hour) * 60 + minute) * 60 + second) * 1000 + Double(millis)
}

/// Reads a daemon's log as it grows, line by line.
final class LogFollower {
    let path: String
    private var offset = 0
    private var partial = ""

    init(path: String) {
        self.path = path
        offset = readFile(path, from: 0).1
    }

    func newLines() -> [Substring] {
        let (text, next) = readFile(path, from: offset)
        offset = next
        guard !text.isEmpty else { return [] }
        let all = partial + text
        var lines = all.split(separator: "\n", omittingEmptySubsequences: false)
        partial = String(lines.removeLast())
        return lines
    }
}

/// The decimal number right after the first `marker` in `line`.
func number(after marker: String, in line: Substring) -> pid_t? {
    let text = Array(line.utf8), pattern = Array(marker.utf8)
    guard text.count >= pattern.count else { return nil }
    for start in 0...(text.count - pattern.count) where text[start..<(start + pattern.count)].elementsEqual(pattern) {
        var value: pid_t = 0, index = start + pattern.count, digits = 0
        while index < text.count, text[index] >= 48, text[index] <= 57 {
            value = value * 10 + pid_t(text[index] - 48)
            index += 1
            digits += 1
        }
        return digits > 0 ? value : nil
    }
    return nil
}
