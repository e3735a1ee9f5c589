// What program workers (handler = program) change, from the rows of the same run: Python's
// ThreadingTCPServer under two program workers against the same server alone, and the C echo as
// two program workers against socketserverd's built-in echo.
/// Lines for the report (none when the rows are not in the run).
func programComparison(servers: [ServerSpec], cells: [Workload], results: [String: RowResults]) -> [String] {
    let pairs: [(title: String, row: ServerSpec?, base: ServerSpec?, target: Double?)] = [
        ("python, 2 program workers / python ThreadingTCPServer", servers.first { $0.kind == .program(.python) },
         servers.first { $0.kind == .pythonThreading }, 1.7),
        ("C echo, 2 program workers / socketserverd threads tcp (built-in echo)", servers.first { $0.kind == .program(.c) },
         servers.first { $0.kind == .daemon(concurrency: "threads") && !$0.unix }, nil),
        ("C echo, 2 program workers / socketserverd events tcp (built-in echo)", servers.first { $0.kind == .program(.c) },
         servers.first { $0.kind == .daemon(concurrency: "events") && !$0.unix }, nil),
    ]
    var table = Table(headers: ["ratio of req/s"] + cells.map(\.label), rightAligned: Set(1...max(1, cells.count)))
    for pair in pairs {
        guard let row = pair.row.flatMap({ results[$0.name] }), let base = pair.base.flatMap({ results[$0.name] }) else { continue }
        table.rows.append([pair.title + (pair.target.map { " (target ≥ \(fixed($0, 1))x, many clients)" } ?? "")] + cells.map { workload in
            guard let cell = row.cells[workload], let reference = base.cells[workload], reference.rate > 0 else { return "—" }
            let ratio = cell.rate / reference.rate
            let text = fixed(ratio, 2) + "x"
            // One client is one connection, which one interpreter serves: the target is for many.
            guard let target = pair.target, workload.clients > 1 else { return text }
            return text + (ratio >= target ? " PASS" : " MISS")
        })
    }
    guard !table.rows.isEmpty else { return [] }
    return ["", "Program workers (handler = program), same run:", table.render(),
            "The Python rows run one line-echo handler: alone, one interpreter (its GIL) and its own listen(5) backlog; under",
            "socketserverd, two interpreters on the master's socket (backlog 1024). The C rows show what the program path costs",
            "against the built-in echo: nothing per request, since the program owns the socket as a built-in worker does."]
}
