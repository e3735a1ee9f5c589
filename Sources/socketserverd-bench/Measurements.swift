// Running one load (a separate process) against a server, and the lifecycle results: start to
// READY, reloads and upgrades (measured in GenerationChanges.swift), the RSS soak.
#if canImport(Glibc)
import Glibc
#endif
import SocketServer
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
    var failures = FailureCounts()
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

    var errors: Int { failures.total }

    mutating func addErrors(of other: LoadResult) {
        failures.add(other.failures)
    }
    var rate: Double { seconds > 0 ? Double(requests) / seconds : 0 }

    var errorDetail: String { failures.detail }

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
        failures = FailureCounts(resultFields: values)
        connections = int("connections")
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
            _ = try? retryingOnInterrupt { waitpid(pid, &status, 0) }
        }
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            while let newline = buffer.firstIndex(of: "\n") {
                let line = String(buffer[..<newline])
                buffer = String(buffer[buffer.index(after: newline)...])
                if line == "MEASURE" { onMeasure() }
                if let result = LoadResult(parsing: line) { return result }
            }
            guard let count = try? retryingOnInterrupt({ chunk.withUnsafeMutableBytes { read(readEnd, $0.baseAddress, $0.count) } }),
                  count > 0 else { throw BenchError("the load process ended without a result") }
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

// MARK: - Lifecycle: READY, reloads and upgrades, soak

/// RSS (VmRSS and its anonymous part RssAnon, KiB) and USS (KiB) of master and workers at one
/// point of the soak.
struct SoakSample {
    let requests: Int
    let master: Int
    let workers: [Int]
    let masterAnon: Int
    let workersAnon: [Int]
    var masterUSS = 0
    var workersUSS: [Int] = []
}

struct LifecycleResult {
    var readyMs: Double? = nil
    var firstRequestMs: Double? = nil
    /// The reloads (SIGHUP) and binary upgrades (SIGUSR2) measured (GenerationChanges.swift).
    var changes: [GenerationChange: ChangeTimings] = [:]
    /// RSS of master and workers after 100k, 200k, … requests of the soak.
    var soak: [SoakSample] = []
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
                                      masterAnon: master?.anon ?? 0, workersAnon: workers.map(\.anon),
                                      masterUSS: proportionalKiB(server.pid)?.uss ?? 0,
                                      workersUSS: server.workerPIDs.compactMap { proportionalKiB($0)?.uss }))
    }
}
