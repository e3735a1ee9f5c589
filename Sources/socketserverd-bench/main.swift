// socketserverd-bench: socketserverd side by side with Python's socketserver and a C reference.
//
//   swift run -c release --scratch-path .build-bench socketserverd-bench [--quick] [--soak|--no-soak]
//
// Starts every server itself (the release socketserverd next to this binary, python3 running the
// peers in Tests/Benchmarks, the C reference compiled there with cc -O2), loads each from a second
// process (this binary in --load mode), and prints one table plus the targets.
#if canImport(Glibc)
import Glibc
#endif
import SocketServer
import CSocketServerShims

struct Options {
    var quick = false
    var soak: Bool? = nil
    var only: [String] = []
    var workloadFilter: [String] = []
    var warmup: Double? = nil
    var duration: Double? = nil
    var reloads = 20
    var upgrades = 20
    var passes: Int? = nil
    var keepScratch = false

    /// The series of generation changes to measure, with their lengths (SIGHUPs, then SIGUSR2s).
    var changes: [(GenerationChange, Int)] { [(.reload, reloads), (.upgrade, upgrades)].filter { $0.1 > 0 } }

    static let usage = """
        usage: socketserverd-bench [--quick] [--soak | --no-soak] [--only TEXT]… [--duration S] [--warmup S]
                                   [--passes N] [--reloads N] [--upgrades N] [--workload TEXT]… [--keep-scratch]

        Starts socketserverd (sync, threads, fork, events; TCP and Unix; exec running /bin/cat), Python's
        ForkingTCPServer and ThreadingTCPServer, a C pre-fork epoll echo server, a C fork-per-connection
        echo, and tcpserver, xinetd and socat running /bin/cat; loads each from a separate process and
        prints requests/s, p50/p99 latency, errors, server CPU per request and RSS, with ratios to the
        C reference, then start, reload and upgrade figures and its targets with PASS/MISS.

          --quick         fewer workloads, shorter cells, no soak (under a minute)
          --soak          run the 1M-request RSS soak (the full run does by default)
          --no-soak       skip it
          --only TEXT     only rows whose name contains TEXT (repeatable; the references, and the rows the
                          chosen rows' targets compare them with, always run)
          --workload TEXT only workloads whose label contains TEXT, e.g. "keep 32c" (repeatable)
          --duration S    measured seconds per cell (full 1.0, quick 0.3)
          --warmup S      warm-up seconds per cell (full 0.2, quick 0.1)
          --passes N      run every cell N times, report the fastest (full 2, quick 1)
          --reloads N     SIGHUPs in the reload test (20; 0 skips it)
          --upgrades N    SIGUSR2s (binary upgrades in place) after the reloads (20; 0 skips them)
          --keep-scratch  keep the scratch directory (configs, logs) for inspection
        """

    static func parse(_ arguments: [String]) -> Options? {
        var options = Options()
        var rest = arguments[...]
        while let argument = rest.popFirst() {
            switch argument {
            case "--quick": options.quick = true
            case "--full": options.quick = false
            case "--soak": options.soak = true
            case "--no-soak": options.soak = false
            case "--only": guard let value = rest.popFirst() else { return nil }; options.only.append(value)
            case "--workload": guard let value = rest.popFirst() else { return nil }; options.workloadFilter.append(value)
            case "--warmup": guard let value = rest.popFirst().flatMap(Double.init) else { return nil }; options.warmup = value
            case "--duration": guard let value = rest.popFirst().flatMap(Double.init) else { return nil }; options.duration = value
            case "--reloads": guard let value = rest.popFirst().flatMap(Int.init) else { return nil }; options.reloads = max(0, value)
            case "--upgrades": guard let value = rest.popFirst().flatMap(Int.init) else { return nil }; options.upgrades = max(0, value)
            case "--passes": guard let value = rest.popFirst().flatMap(Int.init) else { return nil }; options.passes = max(1, value)
            case "--keep-scratch": options.keepScratch = true
            default: return nil
            }
        }
        return options
    }
}

func progress(_ text: String) {
    var line = Array((text + "\n").utf8)[...]
    while !line.isEmpty {
        let written = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
        if written <= 0 { return }
        line = line.dropFirst(written)
    }
}

// MARK: - Cleanup on interrupt

/// Process groups of live servers, killed if the benchmark is interrupted.
nonisolated(unsafe) let liveGroups = UnsafeMutablePointer<pid_t>.allocate(capacity: 16)

func track(_ pid: pid_t) {
    for slot in 0..<16 where liveGroups[slot] == 0 { liveGroups[slot] = pid; return }
}

func untrack(_ pid: pid_t) {
    for slot in 0..<16 where liveGroups[slot] == pid { liveGroups[slot] = 0 }
}

func installInterruptCleanup() {
    liveGroups.initialize(repeating: 0, count: 16)
    for number in [SIGINT, SIGTERM, SIGHUP] {
        signal(number) { number in
            for slot in 0..<16 where liveGroups[slot] > 0 {
                kill(-liveGroups[slot], SIGKILL)
                kill(liveGroups[slot], SIGKILL)
            }
            _exit(128 + number)
        }
    }
}

// MARK: - The run

let allServers: [ServerSpec] = [
    ServerSpec(name: "socketserverd sync tcp", kind: .daemon(concurrency: "sync"), unix: false),
    ServerSpec(name: "socketserverd threads tcp", kind: .daemon(concurrency: "threads"), unix: false),
    ServerSpec(name: "socketserverd fork tcp", kind: .daemon(concurrency: "fork"), unix: false,
               peers: ["C fork per connection tcp", "C fork per connection tcp + Swift runtime", "python ForkingTCPServer"]),
    ServerSpec(name: "socketserverd sync unix", kind: .daemon(concurrency: "sync"), unix: true),
    ServerSpec(name: "socketserverd threads unix", kind: .daemon(concurrency: "threads"), unix: true),
    ServerSpec(name: "socketserverd fork unix", kind: .daemon(concurrency: "fork"), unix: true,
               peers: ["C fork per connection unix", "python ForkingTCPServer"]),
    ServerSpec(name: "socketserverd events tcp", kind: .daemon(concurrency: "events"), unix: false),
    ServerSpec(name: "socketserverd events unix", kind: .daemon(concurrency: "events"), unix: true),
    // The same echo from a C plugin's event callbacks (plugin ABI 1.1), against the built-in row above.
    ServerSpec(name: "socketserverd events tcp, plugin echo", kind: .daemon(concurrency: "events"), unix: false, pluginEcho: true),
    // The operations features on, against the row above it without them, in the same run.
    ServerSpec(name: "socketserverd threads tcp + metrics, access_log, per_source", kind: .daemon(concurrency: "threads"),
               unix: false, daemonKeys: ["access_log = $DIR/access.log", "metrics = tcp://127.0.0.1:$METRICS_PORT"],
               serviceKeys: ["per_source = 1000"]),
    ServerSpec(name: "python ForkingTCPServer", kind: .pythonForking, unix: false),
    ServerSpec(name: "python ThreadingTCPServer", kind: .pythonThreading, unix: false),
    ServerSpec(name: "python ThreadingTCPServer, 2 program workers", kind: .program(.python), unix: false),
    ServerSpec(name: "C echo, 2 program workers", kind: .program(.c), unix: false),
    // A program per connection: socketserverd's exec handler and three inetd-style peers, all running /bin/cat.
    ServerSpec(name: "socketserverd exec tcp", kind: .exec, unix: false,
               peers: ExecPeer.allCases.map { "\($0) exec cat" }),
    ServerSpec(name: "tcpserver exec cat", kind: .execPeer(.tcpserver), unix: false),
    ServerSpec(name: "xinetd exec cat", kind: .execPeer(.xinetd), unix: false),
    ServerSpec(name: "socat exec cat", kind: .execPeer(.socat), unix: false),
    ServerSpec(name: "C fork per connection tcp", kind: .cFork(swiftRuntime: false), unix: false),
    ServerSpec(name: "C fork per connection unix", kind: .cFork(swiftRuntime: false), unix: true),
    ServerSpec(name: "C fork per connection tcp + Swift runtime", kind: .cFork(swiftRuntime: true), unix: false),
    ServerSpec(name: "C prefork epoll tcp (ref)", kind: .cReference, unix: false),
    ServerSpec(name: "C prefork epoll unix (ref)", kind: .cReference, unix: true),
]

struct RowResults {
    var cells: [Workload: LoadResult] = [:]
    var requestsServed = 0
    var rssAfterCells: (master: Int?, workers: [Int]) = (nil, [])
    var proportionalAfterCells: (master: (pss: Int, uss: Int)?, workers: [(pss: Int, uss: Int)]) = (nil, [])
    var lifecycle = LifecycleResult()
    var startError: String? = nil
}

func workloads(quick: Bool) -> [Workload] {
    var list: [Workload] = []
    for keepAlive in [false, true] {
        for size in [16, 65536] {
            for clients in [1, 32, 256] {
                if quick && size == 65536 && clients != 32 { continue }
                list.append(Workload(keepAlive: keepAlive, clients: clients, size: size))
            }
        }
    }
    return list
}

func benchmark(_ options: Options) throws -> Int32 {
    let started = monotonicNanoseconds()
    installInterruptCleanup()
    signal(SIGPIPE, SIG_IGN)
    _ = cssd_set_child_subreaper(1)
    var limit = rlimit()
    getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    limit.rlim_cur = limit.rlim_max
    setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)

    var context = try makeContext()
    let busyBefore = machineBusySeconds()
    sleepSeconds(0.5)
    let busyShare = (machineBusySeconds() - busyBefore) / 0.5 / Double(max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))))
    if busyShare > 0.1 {
        progress("warning: the machine is \(Int(busyShare * 100))% busy before the run; other processes will skew the figures")
    }
    defer {
        if options.keepScratch {
            progress("scratch directory kept: \(context.scratch)")
        } else {
            _ = runCommand("rm", ["-rf", context.scratch])
        }
    }
    let quick = options.quick
    let warmup = options.warmup ?? (quick ? 0.1 : 0.2)
    let measured = options.duration ?? (quick ? 0.3 : 1.0)
    let passes = options.passes ?? (quick ? 1 : 2)
    let doSoak = options.soak ?? !quick
    let cells = workloads(quick: quick).filter { workload in
        options.workloadFilter.isEmpty || options.workloadFilter.contains { workload.label.contains($0) }
    }
    let chosen = allServers.filter { spec in
        options.only.isEmpty || spec.isReference || options.only.contains { spec.name.contains($0) }
    }
    // The rows a chosen row's targets compare it with run too.
    let peerNames = Set(chosen.flatMap(\.peers))
    let servers = allServers.filter { spec in chosen.contains { $0.name == spec.name } || peerNames.contains(spec.name) }
    let cpus = Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
    progress("socketserverd-bench: \(quick ? "quick" : "full") run, \(cpus) CPUs, \(servers.count) servers × \(cells.count) workloads"
             + " × \(passes) pass(es), \(warmup)s warm-up + \(measured)s per cell\(doSoak ? ", soak" : "")")

    var results: [String: RowResults] = [:]
    for spec in servers { results[spec.name] = RowResults() }
    let wantedPeers = servers.compactMap { spec -> ExecPeer? in if case .execPeer(let peer) = spec.kind { return peer } else { return nil } }
    if !wantedPeers.isEmpty {
        let (found, skipped) = ExecPeer.locate(wantedPeers)
        context.execPeers = found
        for spec in servers {
            guard case .execPeer(let peer) = spec.kind, let reason = skipped[peer] else { continue }
            results[spec.name]!.startError = "skipped: \(peer) \(reason)"
            progress("   \(spec.name): skipped: \(peer) \(reason)")
        }
    }

    // Every server is up at once, and the cells run workload by workload: the cells compared in a
    // ratio are measured seconds apart, not minutes (this 2-CPU VM's loopback TCP drifts).
    var running: [RunningServer] = []
    defer {
        for server in running {
            server.stop()
            untrack(server.pid)
        }
    }
    progress("\nstarting \(servers.count) servers")
    for (index, spec) in servers.enumerated() where results[spec.name]!.startError == nil {
        do {
            let server = try RunningServer(starting: spec, context: context, tag: "row-\(index)")
            track(server.pid)
            running.append(server)
            results[spec.name]!.lifecycle.firstRequestMs = server.firstRequestAfter
            results[spec.name]!.lifecycle.readyMs = server.readyAfter
            progress("   \(pad(spec.name, 28)) first reply after \(milliseconds(server.firstRequestAfter))"
                     + (server.readyAfter.map { ", READY=1 after \(milliseconds($0))" } ?? ""))
        } catch {
            results[spec.name]!.startError = "\(error)"
            progress("   \(spec.name): failed: \(error)")
        }
    }
    for pass in 1...passes {
        for workload in cells {
            progress("\n\(workload.label)\(passes > 1 ? " (pass \(pass) of \(passes))" : "")")
            for server in running {
                var load = LoadSpec()
                load.endpoint = server.endpoint
                load.keepAlive = workload.keepAlive
                load.clients = workload.clients
                load.size = workload.size
                load.warmup = warmup
                load.duration = measured
                do {
                    let result = try measure(load, on: server, context: context)
                    var row = results[server.spec.name]!
                    row.requestsServed += result.requests
                    // Of several passes, the one with the most requests/s is reported; errors add up.
                    if let previous = row.cells[workload] {
                        var best = result.rate > previous.rate ? result : previous
                        best.addErrors(of: result.rate > previous.rate ? previous : result)
                        row.cells[workload] = best
                    } else {
                        row.cells[workload] = result
                    }
                    results[server.spec.name] = row
                    progress("   \(pad(server.spec.name, 28)) \(pad(grouped(result.rate), 9, right: true)) req/s  p50 "
                             + "\(duration(nanoseconds: result.p50))  p99 \(duration(nanoseconds: result.p99))  errors \(result.errors)"
                             + (result.errors > 0 ? " (\(result.errorDetail))" : ""))
                } catch {
                    progress("   \(server.spec.name): \(error)")
                }
            }
        }
    }
    for server in running {
        results[server.spec.name]!.rssAfterCells = server.memory()
        results[server.spec.name]!.proportionalAfterCells = server.proportionalMemory()
        server.stop()
        untrack(server.pid)
    }
    running = []

    let changes = options.changes
    for (index, spec) in servers.enumerated() where spec.isDaemon && results[spec.name]!.startError == nil
        && (!changes.isEmpty || doSoak) {
        var row = results[spec.name]!
        progress("\n== \(spec.name): " + (changes.map { $0.0.noun } + (doSoak ? ["soak"] : [])).joined(separator: ", "))
        if !changes.isEmpty { do {
            // Lifecycle: a fresh daemon at log_level debug (each request logs its worker); the
            // upgrades follow the reloads on the same daemon.
            let daemon = try RunningServer(starting: spec, context: context, tag: "row-\(index)-reload", logLevel: "debug")
            track(daemon.pid)
            defer {
                daemon.stop()
                untrack(daemon.pid)
            }
            row.lifecycle.readyMs = [row.lifecycle.readyMs, daemon.readyAfter].compactMap { $0 }.max()
            row.lifecycle.firstRequestMs = [row.lifecycle.firstRequestMs, daemon.firstRequestAfter].compactMap { $0 }.max()
            for (change, count) in changes {
                row.lifecycle.changes[change] = try measureChanges(change, count: count, on: daemon, context: context)
            }
        } catch {
            progress("   reload/upgrade test failed: \(error)")
        } }
        if doSoak {
            do {
                let daemon = try RunningServer(starting: spec, context: context, tag: "row-\(index)-soak")
                track(daemon.pid)
                defer {
                    daemon.stop()
                    untrack(daemon.pid)
                }
                try soak(daemon, total: 1_000_000, chunk: 100_000, context: context, into: &row.lifecycle)
                if let first = row.lifecycle.soak.first, let last = row.lifecycle.soak.last {
                    progress("   soak: RSS master \(mebibytes(first.master))→\(mebibytes(last.master)) MiB, workers "
                             + first.workers.map { mebibytes($0) }.joined(separator: "/") + "→"
                             + last.workers.map { mebibytes($0) }.joined(separator: "/") + " MiB over \(last.requests) requests")
                }
            } catch {
                progress("   soak failed: \(error)")
            }
        }
        results[spec.name] = row
    }

    let elapsed = Double(monotonicNanoseconds() - started) / 1e9
    var measuredSeconds = 0.0, foreign = 0.0
    for row in results.values {
        for cell in row.cells.values {
            measuredSeconds += cell.seconds
            foreign += cell.foreignCPU
        }
    }
    let foreignShare = measuredSeconds > 0 ? foreign / (measuredSeconds * Double(cpus)) : 0
    print(renderReport(servers: servers, cells: cells, results: results, quick: quick, warmup: warmup, measured: measured, passes: passes,
                       changes: changes, soaked: doSoak, cpus: cpus, elapsed: elapsed, foreignShare: foreignShare))
    return 0
}

// MARK: - Entry

let arguments = Array(CommandLine.arguments.dropFirst())
if arguments.first == "--load" {
    guard let spec = LoadSpec.parse(Array(arguments.dropFirst())) else {
        progress("socketserverd-bench --load: bad arguments \(arguments)")
        exit(2)
    }
    exit(runLoad(spec))
}
if arguments.contains("--help") || arguments.contains("-h") {
    print(Options.usage)
    exit(0)
}
guard let options = Options.parse(arguments) else {
    progress(Options.usage)
    exit(2)
}
do {
    exit(try benchmark(options))
} catch {
    progress("socketserverd-bench: \(error)")
    exit(1)
}
