// The printed report: the table, the lifecycle figures (start, memory, reloads and upgrades), and the
// targets with PASS/MISS.
#if canImport(Glibc)
import Glibc
#endif

func grouped(_ value: Double) -> String {
    let whole = Int(value.rounded())
    var digits = Array(String(whole))
    var index = digits.count - 3
    while index > 0 {
        digits.insert(",", at: index)
        index -= 3
    }
    return String(digits)
}

func fixed(_ value: Double, _ decimals: Int) -> String {
    var scale = 1.0
    for _ in 0..<decimals { scale *= 10 }
    let scaled = Int((abs(value) * scale).rounded())
    let sign = value < 0 && scaled != 0 ? "-" : ""
    if decimals == 0 { return sign + String(scaled) }
    let text = String(scaled)
    let padded = String(repeating: "0", count: max(0, decimals + 1 - text.count)) + text
    return sign + padded.dropLast(decimals) + "." + padded.suffix(decimals)
}

/// 85µs, 1.20ms, 1.05s.
func duration(nanoseconds: UInt64) -> String {
    let value = Double(nanoseconds)
    if value < 10_000 { return fixed(value / 1000, 1) + "µs" }
    if value < 1_000_000 { return fixed(value / 1000, 0) + "µs" }
    if value < 1_000_000_000 { return fixed(value / 1e6, value < 1e7 ? 2 : 1) + "ms" }
    return fixed(value / 1e9, 2) + "s"
}

func milliseconds(_ value: Double?) -> String {
    guard let value else { return "—" }
    return fixed(value, value < 10 ? 1 : 0) + " ms"
}

func mebibytes(_ kib: Int?) -> String {
    guard let kib else { return "—" }
    return fixed(Double(kib) / 1024, 1)
}

func pad(_ text: String, _ width: Int, right: Bool = false) -> String {
    let count = text.count
    if count >= width { return text }
    let fill = String(repeating: " ", count: width - count)
    return right ? fill + text : text + fill
}

struct Table {
    var headers: [String]
    var rightAligned: Set<Int>
    var rows: [[String]?] = []  // nil: a blank separator line

    func render() -> String {
        var widths = headers.map(\.count)
        for row in rows.compactMap({ $0 }) {
            for (index, cell) in row.enumerated() where index < widths.count { widths[index] = max(widths[index], cell.count) }
        }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { index, cell in pad(cell, widths[index], right: rightAligned.contains(index)) }
                .joined(separator: "  ").trailingSpacesTrimmed
        }
        var output = [line(headers), widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")]
        for row in rows { output.append(row.map(line) ?? "") }
        return output.joined(separator: "\n")
    }
}

extension String {
    var trailingSpacesTrimmed: String {
        var text = self
        while text.hasSuffix(" ") { text.removeLast() }
        return text
    }
}

/// A target's verdict in one cell of the targets table.
func verdict(_ figure: String, _ pass: Bool?) -> String {
    guard let pass else { return figure }
    return figure + (pass ? " PASS" : " MISS")
}

// MARK: - The report

func referenceName(for spec: ServerSpec) -> String {
    spec.unix ? "C prefork epoll unix (ref)" : "C prefork epoll tcp (ref)"
}

/// What the soak drift is measured on: RSS, its anonymous part RssAnon (the process's own memory,
/// not the shared library pages it has mapped), or USS (the pages it alone maps).
enum SoakMeasure { case rss, anonymous, unique }

/// Largest relative change of any process's `measure` from the first soak sample (100k requests).
func soakDrift(_ samples: [SoakSample], _ measure: SoakMeasure = .rss) -> Double? {
    guard let base = samples.first, samples.count > 1 else { return nil }
    func values(_ sample: SoakSample) -> [Int] {
        switch measure {
        case .rss: return [sample.master] + sample.workers
        case .anonymous: return [sample.masterAnon] + sample.workersAnon
        case .unique: return [sample.masterUSS] + sample.workersUSS
        }
    }
    let first = values(base)
    var drift = 0.0
    for sample in samples {
        for (index, value) in values(sample).enumerated() where index < first.count && first[index] > 0 {
            drift = max(drift, abs(Double(value - first[index])) / Double(first[index]))
        }
    }
    return drift
}

func renderReport(servers: [ServerSpec], cells: [Workload], results: [String: RowResults], quick: Bool, warmup: Double,
                  measured: Double, passes: Int, changes: [(GenerationChange, Int)], soaked: Bool, cpus: Int, elapsed: Double,
                  foreignShare: Double) -> String {
    var out: [String] = []
    let kernel = (readFile("/proc/sys/kernel/osrelease") ?? "?").split(separator: "\n").first.map(String.init) ?? "?"
    out.append("")
    out.append("socketserverd-bench \(quick ? "--quick" : "(full)"): \(cpus) CPUs, Linux \(kernel), run took \(fixed(elapsed, 0)) s; "
               + "other processes used \(fixed(foreignShare * 100, 1))% of the CPUs in the measured windows.")
    out.append("Each cell: \(warmup) s warm-up, then \(measured) s measured\(passes > 1 ? ", \(passes) passes (the faster shown, errors of both)" : "");")
    out.append("all servers run at once and the cells go workload by workload. Load from a separate process (epoll, up to 2 threads,")
    out.append("TCP_NODELAY); payload ends in a newline and the reply is checked byte for byte. conn = a connection per request")
    out.append("(latency includes connect), keep = persistent connections. Errors: failed connects, resets, short or wrong replies,")
    out.append("requests unanswered after 1 s, and requests still unanswered at the end after the whole measured window (stalled).")
    out.append("x ref = req/s over the C reference on the same transport. CPU = server CPU (all its processes) per request.")
    out.append("RSS = VmRSS in MiB after the cell: master (socketserverd master, Python server) and workers.")
    out.append("PSS/USS (below) = proportional set size / private pages (Private_Clean + Private_Dirty) in MiB,")
    out.append("from /proc/PID/smaps_rollup after the cells: the shared runtime pages count once across processes, not per process.")
    out.append("")

    var table = Table(headers: ["workload", "server", "req/s", "x ref", "p50", "p99", "errors", "CPU/req", "RSS master", "RSS workers"],
                      rightAligned: [2, 3, 4, 5, 6, 7, 8])
    for (index, workload) in cells.enumerated() {
        if index > 0 { table.rows.append(nil) }
        for spec in servers {
            guard let row = results[spec.name] else { continue }
            guard let cell = row.cells[workload] else {
                let why = row.startError.map { $0.hasPrefix("skipped") ? "skipped" : "failed" } ?? ""
                table.rows.append([workload.label, spec.name, "—", "", "", "", why, "", "", ""])
                continue
            }
            var ratio = ""
            if let reference = results[referenceName(for: spec)]?.cells[workload], reference.rate > 0 {
                ratio = fixed(cell.rate / reference.rate, 2) + "x"
            }
            let cpu = cell.requests > 0 ? fixed(cell.serverCPU / Double(cell.requests) * 1e6, 0) + "µs" : "—"
            table.rows.append([workload.label, spec.name, grouped(cell.rate), ratio,
                               cell.requests > 0 ? duration(nanoseconds: cell.p50) : "—",
                               cell.requests > 0 ? duration(nanoseconds: cell.p99) : "—",
                               "\(cell.errors)", cpu, mebibytes(cell.rssMaster),
                               cell.rssWorkers.isEmpty ? "—" : cell.rssWorkers.map { mebibytes($0) }.joined(separator: " ")])
        }
    }
    out.append(table.render())

    // Errors in detail, where there were any.
    var details: [String] = []
    for workload in cells {
        for spec in servers {
            if let cell = results[spec.name]?.cells[workload], cell.errors > 0 {
                details.append("  \(workload.label), \(spec.name): \(cell.errorDetail)")
            }
        }
    }
    if !details.isEmpty {
        out.append("")
        out.append("Errors by kind:")
        out += details
    }
    let skipped = servers.compactMap { spec in results[spec.name]?.startError.flatMap { $0.hasPrefix("skipped") ? "  \(spec.name): \($0)" : nil } }
    if !skipped.isEmpty {
        out.append("")
        out.append("Rows skipped:")
        out += skipped
    }
    out += programComparison(servers: servers, cells: cells, results: results)

    // Start, memory.
    out.append("")
    var lifecycle = Table(headers: ["server", "start→READY", "start→reply", "RSS master/workers", "PSS/USS master/workers"]
                                   + (soaked ? ["soak RSS@100k", "soak drift"] : []),
                          rightAligned: [1, 2])
    for spec in servers {
        guard let row = results[spec.name] else { continue }
        let life = row.lifecycle
        let memory = mebibytes(row.rssAfterCells.master) + " / "
            + (row.rssAfterCells.workers.isEmpty ? "—" : row.rssAfterCells.workers.map { mebibytes($0) }.joined(separator: " "))
        let (pssMaster, pssWorkers) = row.proportionalAfterCells
        let proportional = (pssMaster.map { mebibytes($0.pss) + "/" + mebibytes($0.uss) } ?? "—") + " / "
            + (pssWorkers.isEmpty ? "—" : pssWorkers.map { mebibytes($0.pss) + "/" + mebibytes($0.uss) }.joined(separator: " "))
        var soakFirst = "", soakDriftText = ""
        if let first = life.soak.first {
            soakFirst = mebibytes(first.master) + " / " + first.workers.map { mebibytes($0) }.joined(separator: " ")
                + " (anon " + mebibytes(first.masterAnon) + " / " + first.workersAnon.map { mebibytes($0) }.joined(separator: " ") + ")"
        }
        if let drift = soakDrift(life.soak), let anon = soakDrift(life.soak, .anonymous), let unique = soakDrift(life.soak, .unique) {
            soakDriftText = fixed(drift * 100, 1) + "% (anon " + fixed(anon * 100, 1) + "%, USS " + fixed(unique * 100, 1) + "%)"
        }
        lifecycle.rows.append([spec.name, milliseconds(life.readyMs), milliseconds(life.firstRequestMs), memory, proportional]
                              + (soaked ? [soakFirst, soakDriftText] : []))
    }
    out.append(lifecycle.render())
    out.append("start→READY: spawn to READY=1 on NOTIFY_SOCKET; start→reply: spawn to the first echo reply (both the worst of")
    out.append("the row's starts).")

    // Reloads and upgrades, one line per daemon and kind of change.
    let daemons = servers.filter(\.isDaemon)
    if !changes.isEmpty && !daemons.isEmpty {
        out.append("")
        var table = Table(headers: ["server", "signal", "→serving p50", "max", "→master line p50", "max", "→1st reply max", "client loop"],
                          rightAligned: [2, 3, 4, 5, 6])
        for (index, (change, _)) in changes.enumerated() {
            if index > 0 { table.rows.append(nil) }
            for spec in daemons {
                let timings = results[spec.name]?.lifecycle.changes[change] ?? ChangeTimings()
                let loop = "\(timings.servingMs.count)/\(timings.attempted) \(change.noun), "
                    + "\(grouped(Double(timings.loop.requests))) req, \(timings.loop.errors) err"
                table.rows.append([spec.name, change.signalName, milliseconds(median(timings.servingMs)), milliseconds(timings.servingMs.max()),
                                   milliseconds(median(timings.masterLineMs)), milliseconds(timings.masterLineMs.max()),
                                   milliseconds(timings.firstReplyMs.max()), loop])
            }
        }
        out.append(table.render())
        out.append("Each change is timed from kill(SIGHUP) or kill(SIGUSR2) to: →serving, a new-generation worker logging that it")
        out.append("serves the listener (is in its accept loop); →master line, the master's \"reloaded: generation N\" or \"upgraded: …,")
        out.append("generation N\" (after the new binary's --check-config and the exec); →1st reply, a new-generation worker logging a")
        out.append("request it serves (not for fork: the request child logs its own pid). The next change waits until the old")
        out.append("generation has left. The upgrades follow the reloads on the same daemon, each series under its own 4000 req/s")
        out.append("client loop (4 clients, a connection per request), whose requests and errors are the client loop column.")
        out.append("Times come from the log (1 ms resolution).")
    }

    // Targets.
    guard !daemons.isEmpty else { return out.joined(separator: "\n") }
    out.append("")
    out.append("Targets, per socketserverd row:")
    let conn32 = Workload(keepAlive: false, clients: 32, size: 16)
    let keep32 = Workload(keepAlive: true, clients: 32, size: 16)
    var targets = Table(headers: ["target"] + daemons.map { $0.name.replacingPrefix("socketserverd ", with: "") },
                        rightAligned: Set(1...daemons.count))
    let isFork = { (spec: ServerSpec) in spec.kind == .daemon(concurrency: "fork") }
    let isExec = { (spec: ServerSpec) in spec.kind == .exec }
    /// A target's row: `figure` for each row it `applies` to, blank for the others.
    func add(_ label: String, applies: (ServerSpec) -> Bool = { _ in true }, _ figure: (ServerSpec, RowResults) -> (String, Bool?)) {
        targets.rows.append([label] + daemons.map { spec in
            guard applies(spec) else { return "" }
            guard let row = results[spec.name] else { return "—" }
            let (text, pass) = figure(spec, row)
            return verdict(text, pass)
        })
    }
    func ratio(_ row: RowResults, _ workload: Workload, against name: String) -> Double? {
        guard let mine = row.cells[workload], let theirs = results[name]?.cells[workload], theirs.rate > 0 else { return nil }
        return mine.rate / theirs.rate
    }
    func atLeast(_ times: Double, _ name: @escaping (ServerSpec) -> String, in workload: Workload, decimals: Int = 2)
        -> (ServerSpec, RowResults) -> (String, Bool?) {
        { spec, row in
            guard let value = ratio(row, workload, against: name(spec)) else { return ("—", nil) }
            return (fixed(value, decimals) + "x", value >= times)
        }
    }
    let keep256 = Workload(keepAlive: true, clients: 256, size: 16)
    /// The bare built-in echo under `concurrency`, either transport (not the plugin or operations rows).
    func isModel(_ concurrency: String) -> (ServerSpec) -> Bool {
        { spec in spec.kind == .daemon(concurrency: concurrency) && !spec.pluginEcho && !spec.name.contains("+") }
    }
    let isEvents = isModel("events")
    // A fork per connection is held to the C server that forks per connection, exec to tcpserver;
    // the pre-fork C reference and the 10x over Python's ForkingTCPServer are for the other models,
    // and the event loop, which works as the C server does, to the C server itself.
    add("conn 32c 16B >= 0.9x C", applies: { !isFork($0) && !isExec($0) && !isEvents($0) }, atLeast(0.9, referenceName, in: conn32))
    add("events: conn 32c 16B >= 0.95x C", applies: isEvents, atLeast(0.95, referenceName, in: conn32))
    add("keep 32c 16B >= 0.9x C", applies: { !isExec($0) && !isEvents($0) }, atLeast(0.9, referenceName, in: keep32))
    add("events: keep 32c 16B >= 1.0x C", applies: isEvents, atLeast(1.0, referenceName, in: keep32))
    add("events: keep 256c 16B >= 1.0x C", applies: isEvents, atLeast(1.0, referenceName, in: keep256))
    // Over a Unix socket, the same share of the C server's rate as over TCP (within 10%), the worse
    // of a connection per request and persistent connections.
    add("unix: x C >= 0.9 of tcp's (conn, keep 32c)", applies: { ($0.unix) && (isModel("sync")($0) || isModel("threads")($0)) }) { spec, row in
        guard spec.name.hasSuffix(" unix") else { return ("—", nil) }
        let tcpName = String(spec.name.dropLast(5)) + " tcp"
        guard let tcp = results[tcpName] else { return ("—", nil) }
        let shares = [conn32, keep32].compactMap { workload -> Double? in
            guard let mine = ratio(row, workload, against: referenceName(for: spec)),
                  let theirs = ratio(tcp, workload, against: "C prefork epoll tcp (ref)"), theirs > 0 else { return nil }
            return mine / theirs
        }
        guard let worst = shares.min() else { return ("—", nil) }
        return (fixed(worst, 2), worst >= 0.9)
    }
    add("conn 32c 16B >= 10x Py Forking", applies: { !isFork($0) && !isExec($0) },
        atLeast(10, { _ in "python ForkingTCPServer" }, in: conn32, decimals: 1))
    add("fork: conn 32c 16B >= 0.6x C fork", applies: isFork,
        atLeast(0.6, { $0.unix ? "C fork per connection unix" : "C fork per connection tcp" }, in: conn32))
    add("fork: conn 32c 16B >= 3x Py Forking", applies: isFork, atLeast(3, { _ in "python ForkingTCPServer" }, in: conn32, decimals: 1))
    add("exec: conn 32c 16B >= 1.2x tcpserver", applies: isExec, atLeast(1.2, { _ in "tcpserver exec cat" }, in: conn32))
    // The plugin echo's cost: its row against the built-in echo under events, in the same run.
    for (label, workload) in [("keep 32c", keep32), ("keep 256c", keep256), ("conn 32c", conn32)] {
        add("plugin echo \(label) 16B >= 0.9x built-in events", applies: \.pluginEcho) { spec, row in
            guard spec.pluginEcho, let value = ratio(row, workload, against: "socketserverd events tcp") else { return ("—", nil) }
            return (fixed(value, 2) + "x", value >= 0.9)
        }
    }
    let wide = cells.filter { $0.clients == 256 }
    add("256 clients: 0 errors") { _, row in
        let cells = wide.compactMap { row.cells[$0] }
        guard !cells.isEmpty else { return ("—", nil) }
        let errors = cells.reduce(0) { $0 + $1.errors }
        return ("\(errors)", errors == 0)
    }
    add("256 clients: p99 < 50 ms (worst)") { _, row in
        let cells = wide.compactMap { row.cells[$0] }
        guard !cells.isEmpty else { return ("—", nil) }
        let worst = cells.map { $0.requests > 0 ? $0.p99 : UInt64.max }.max()!
        return (worst == UInt64.max ? "none served" : duration(nanoseconds: worst), worst < 50_000_000)
    }
    // Memory as a pre-fork server's users count it: the pages each process alone holds (USS), flat
    // over the soak; RSS counts the runtime's shared pages once per process.
    if soaked {
        add("USS flat within 2% over 1M req") { _, row in
            guard let drift = soakDrift(row.lifecycle.soak, .unique) else { return ("—", nil) }
            return (fixed(drift * 100, 1) + "%", drift <= 0.02 && (row.lifecycle.soak.last?.requests ?? 0) >= 1_000_000)
        }
    }
    add("start to READY < 100 ms") { _, row in
        guard let ready = row.lifecycle.readyMs else { return ("—", false) }
        return (milliseconds(ready), ready < 100)
    }
    for (change, count) in changes {
        add("\(change.signalName) to serving < \(change.targetMs) ms (max)") { _, row in
            let timings = row.lifecycle.changes[change] ?? ChangeTimings()
            guard let worst = timings.servingMs.max() else { return ("—", false) }
            return (milliseconds(worst), worst < Double(change.targetMs) && timings.servingMs.count == timings.attempted)
        }
        add("0 errors in \(count) \(change.noun)") { _, row in
            guard let timings = row.lifecycle.changes[change], timings.attempted > 0 else { return ("—", false) }
            return ("\(timings.loop.errors)", timings.loop.errors == 0 && timings.loop.requests > 0)
        }
    }
    out.append(targets.render())
    if !soaked { out.append("(USS flatness over a 1M-request soak: run without --quick, or with --soak.)") }
    return out.joined(separator: "\n")
}

extension String {
    func replacingPrefix(_ prefix: String, with replacement: String) -> String {
        hasPrefix(prefix) ? replacement + dropFirst(prefix.count) : self
    }
}
