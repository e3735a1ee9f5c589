// Running one load (a separate process) against a server, and the lifecycle measurements:
// start to READY, SIGHUP to the new generation serving, errors during reloads, the RSS soak.
#if canImport(Glibc)
import Glibc
#endif
import CSocketServerShims

struct Workload: Hashable {
    let keepAlive: Bool
    let clients: Int
    let size: Int

    var label: String {
        "\(keepAlive ? "keep" : "conn") \(clients)c \(size >= 1024 ? "\(size / 1024)KiB" : "\(size)B")"
    }
}

/// What one load run measured.
struct LoadResult {
    var requests = 0
    var seconds = 0.0
    var connectErrors = 0, resets = 0, eof = 0, mismatches = 0, timeouts = 0, stalled = 0
    var connections = 0
    var p50: UInt64 = 0, p90: UInt64 = 0, p99: UInt64 = 0, p999: UInt64 = 0, maximum: UInt64 = 0, mean: UInt64 = 0
    /// CPU seconds of the load generator and of the server's whole process tree, in the measured window.
    var loadCPU = 0.0
    var serverCPU = 0.0
    /// CPU seconds the whole machine was busy in the measured window, and the load's share of it.
    var machineCPU = 0.0
    var loadCPUMeasured = 0.0
    /// What neither the server nor the load used: other processes on the machine.
    var foreignCPU: Double { max(0, machineCPU - serverCPU - loadCPUMeasured) }
    var rssMaster: Int? = nil
    var rssWorkers: [Int] = []

    var errors: Int { connectErrors + resets + eof + mismatches + timeouts + stalled }

    mutating func addErrors(of other: LoadResult) {
        connectErrors += other.connectErrors; resets += other.resets; eof += other.eof
        mismatches += other.mismatches; timeouts += other.timeouts; stalled += other.stalled
    }
    var rate: Double { seconds > 0 ? Double(requests) / seconds : 0 }

    var errorDetail: String {
        let parts = [("connect", connectErrors), ("reset", resets), ("eof", eof), ("mismatch", mismatches),
                     ("timeout", timeouts), ("stalled", stalled)].filter { $0.1 > 0 }
        return parts.map { "\($0.1) \($0.0)" }.joined(separator: ", ")
    }

    init() {}

    init?(parsing line: String) {
        guard line.hasPrefix("RESULT ") else { return nil }
        var values: [String: String] = [:]
        for pair in line.dropFirst(7).split(separator: " ") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            if parts.count == 2 { values[String(parts[0])] = String(parts[1]) }
        }
        func int(_ key: String) -> Int { Int(values[key] ?? "") ?? 0 }
        func u64(_ key: String) -> UInt64 { UInt64(values[key] ?? "") ?? 0 }
        requests = int("requests")
        seconds = Double(values["seconds"] ?? "") ?? 0
        connectErrors = int("connect"); resets = int("reset"); eof = int("eof"); mismatches = int("mismatch")
        timeouts = int("timeout"); stalled = int("stalled"); connections = int("connections")
        p50 = u64("p50"); p90 = u64("p90"); p99 = u64("p99"); p999 = u64("p999"); maximum = u64("max"); mean = u64("mean")
        loadCPU = Double(values["cpu"] ?? "") ?? 0
        loadCPUMeasured = Double(values["cpu_measured"] ?? "") ?? 0
    }
}

/// A load process running in the background (the reload client loop).
final class LoadProcess {
    let pid: pid_t
    private let readEnd: Int32
    private var buffer = ""

    init(_ spec: LoadSpec, context: BenchContext) throws {
        var fds: [Int32] = [-1, -1]
        guard cssd_pipe_cloexec(&fds, 0) == 0 else { throw BenchError("pipe failed") }
        do {
            pid = try spawn(context.benchBinary, ["--load"] + spec.arguments, environment: childEnvironment(),
                            stdoutFD: fds[1], stderrPath: context.scratch + "/load.log")
        } catch {
            close(fds[0]); close(fds[1])
            throw error
        }
        close(fds[1])
        readEnd = fds[0]
    }

    /// Reads lines until `RESULT`, calling `onMeasure` at `MEASURE`; reaps the process.
    func finish(onMeasure: () -> Void = {}) throws -> LoadResult {
        defer {
            close(readEnd)
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        }
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            while let newline = buffer.firstIndex(of: "\n") {
                let line = String(buffer[..<newline])
                buffer = String(buffer[buffer.index(after: newline)...])
                if line == "MEASURE" { onMeasure() }
                if let result = LoadResult(parsing: line) { return result }
            }
            let count = chunk.withUnsafeMutableBytes { read(readEnd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { throw BenchError("the load process ended without a result") }
            buffer += String(decoding: chunk[0..<count], as: UTF8.self)
        }
    }

    /// Asks a run without a time limit to stop, and returns its result.
    func stop() throws -> LoadResult {
        kill(pid, SIGTERM)
        return try finish()
    }
}

/// Runs one load against `server` and samples the server's CPU time over the measured window.
func measure(_ spec: LoadSpec, on server: RunningServer, context: BenchContext) throws -> LoadResult {
    let load = try LoadProcess(spec, context: context)
    var cpuAtStart = 0.0, busyAtStart = 0.0
    var result = try load.finish {
        cpuAtStart = server.cpuSeconds()
        busyAtStart = machineBusySeconds()
    }
    result.machineCPU = max(0, machineBusySeconds() - busyAtStart)
    result.serverCPU = max(0, server.cpuSeconds() - cpuAtStart)
    (result.rssMaster, result.rssWorkers) = server.memory()
    return result
}

// MARK: - Lifecycle: READY, reloads

/// RSS (VmRSS and its anonymous part RssAnon, KiB) of master and workers at one point of the soak.
struct SoakSample {
    let requests: Int
    let master: Int
    let workers: [Int]
    let masterAnon: Int
    let workersAnon: [Int]
}

struct LifecycleResult {
    var readyMs: Double? = nil
    var firstRequestMs: Double? = nil
    /// SIGHUP to the first worker of the new generation serving the listener (in its accept loop), per reload (ms).
    var servingMs: [Double] = []
    /// SIGHUP to the first request a new-generation worker served (sync, threads; a fork child logs its own pid).
    var firstReplyMs: [Double] = []
    /// SIGHUP to the master's "reloaded: generation N" line, per reload (ms).
    var reloadedMs: [Double] = []
    var reloadsAttempted = 0
    var loop = LoadResult()
    /// RSS of master and workers after 100k, 200k, … requests of the soak.
    var soak: [SoakSample] = []
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

/// `reloads` SIGHUPs in a row under a paced client loop; each waits until the new generation serves.
/// The daemon must run at log_level debug: each request logs "worker PID serving".
func measureReloads(_ server: RunningServer, reloads: Int, context: BenchContext, into result: inout LifecycleResult) throws {
    var loopSpec = LoadSpec()
    loopSpec.endpoint = server.endpoint
    loopSpec.keepAlive = false
    loopSpec.clients = 4
    loopSpec.rate = 4000
    loopSpec.warmup = 0
    loopSpec.duration = 0
    loopSpec.threads = 1
    let loop = try LoadProcess(loopSpec, context: context)
    sleepSeconds(0.05)
    let follower = LogFollower(path: server.logPath)
    let forking = server.spec.kind == .daemon(concurrency: "fork")
    for reload in 1...reloads {
        let generation = reload + 1
        result.reloadsAttempted += 1
        var fresh: Set<pid_t> = []
        var reloadedAt: Double? = nil
        var servingAt: Double? = nil
        var repliedAt: Double? = nil
        var listening: [pid_t: Double?] = [:]
        var served: [pid_t: Double?] = [:]
        let sentAt = realtimeMilliseconds()
        kill(server.pid, SIGHUP)
        let deadline = monotonicNanoseconds() + 5_000_000_000
        while (servingAt == nil || (repliedAt == nil && !forking)) && monotonicNanoseconds() < deadline {
            // Drain sd_notify as systemd does: a full datagram queue (net.unix.max_dgram_qlen, 10)
            // blocks the master in sendto (RELOADING=1 and READY=1 per reload).
            _ = server.notify?.drain()
            for line in follower.newLines() {
                if line.contains("started for service"), line.hasSuffix("(generation \(generation))"),
                   let pid = number(after: "info: worker ", in: line) {
                    fresh.insert(pid)
                } else if line.contains("reloaded: generation \(generation),") {
                    reloadedAt = logTimestamp(line)
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
        if let reloadedAt { result.reloadedMs.append(max(0, reloadedAt - sentAt)) }
        if let servingAt { result.servingMs.append(max(0, servingAt - sentAt)) }
        if let repliedAt { result.firstReplyMs.append(max(0, repliedAt - sentAt)) }
        // Let the old generation leave before the next reload, so that workers don't pile up.
        let settle = monotonicNanoseconds() + 2_000_000_000
        while server.workerPIDs.count > 2 && monotonicNanoseconds() < settle {
            reapExited()
            usleep(1000)
        }
    }
    result.loop = try loop.stop()
}

/// Soak: `total` requests in chunks of `chunk` (32 persistent clients, a new connection every 100
/// requests, 16 bytes), sampling master and worker RSS after each chunk.
func soak(_ server: RunningServer, total: Int, chunk: Int, context: BenchContext, into result: inout LifecycleResult) throws {
    var spec = LoadSpec()
    spec.endpoint = server.endpoint
    spec.keepAlive = true
    spec.clients = 32
    spec.size = 16
    spec.perConnection = 100
    spec.warmup = 0
    spec.duration = 120  // a cap: the run stops after `chunk` requests
    spec.requests = chunk
    var done = 0
    while done < total {
        let load = try LoadProcess(spec, context: context)
        let outcome = try load.finish()
        done += outcome.requests
        if outcome.requests == 0 { throw BenchError("soak: no request served (\(outcome.errorDetail))") }
        let master = residentKiB(server.pid)
        let workers = server.workerPIDs.compactMap { residentKiB($0) }
        result.soak.append(SoakSample(requests: done, master: master?.rss ?? 0, workers: workers.map(\.rss),
                                      masterAnon: master?.anon ?? 0, workersAnon: workers.map(\.anon)))
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
