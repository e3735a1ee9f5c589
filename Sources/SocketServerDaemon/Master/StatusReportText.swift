// The two ways `status` prints its report: one JSON object (`--json`, for programs) and lines for
// people, the same figures in both.

extension StatusReport {
    /// `{"pid", "version", "generation", "uptime_seconds", "reloads": {"ok", "failed"}, "services": [...]}`.
    var json: JSONValue {
        .object([
            ("pid", .integer(Int(pid))), ("version", .string(version)), ("generation", .integer(generation)),
            ("state", .string(state)), ("start_time", .integer(startTime)), ("uptime_seconds", .integer(uptimeSeconds)),
            ("reloads", .object([("ok", .integer(reloadsOK)), ("failed", .integer(reloadsFailed))])),
            ("services", .array(services.map(\.json))),
        ])
    }

    /// The report for a terminal: the daemon's line, then a block per service with a row per worker.
    var text: String {
        var lines = ["socketserverd \(version), pid \(pid), generation \(generation), \(state), up \(Self.age(uptimeSeconds)), "
                     + "reloads: \(reloadsOK) ok, \(reloadsFailed) failed"]
        for service in services {
            lines.append("")
            lines += service.textLines
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// `45s`, `12m05s`, `3h02m`, `2d03h`: two units at most.
    static func age(_ seconds: Int64) -> String {
        func two(_ value: Int64) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let (minutes, hours, days) = (seconds / 60, seconds / 3600, seconds / 86400)
        if days > 0 { return "\(days)d\(two(hours % 24))h" }
        if hours > 0 { return "\(hours)h\(two(minutes % 60))m" }
        if minutes > 0 { return "\(minutes)m\(two(seconds % 60))s" }
        return "\(seconds)s"
    }
}

extension StatusReport.Service {
    var json: JSONValue {
        .object([
            ("name", .string(name)), ("listen", .string(listen)), ("handler", .string(handler)),
            ("concurrency", .string(concurrency)), ("wanted", wanted.map { .integer($0) } ?? .null),
            ("active", .integer(active)), ("served", .integer(served)),
            ("refused", .object(refused.map { ($0.reason, .integer($0.count)) })),
            ("restarts", .integer(restarts)),
            ("workers", .array(workers.map(\.json))),
        ])
    }

    var textLines: [String] {
        let heading = wanted == nil ? "service \(name) (removed by a reload; its last workers finish)"
            : "service \(name): \(listen), handler \(handler), concurrency \(concurrency)"
        let wantedText = wanted.map { " (\($0) wanted)" } ?? ""
        var lines = [heading,
                     "  workers \(workers.count)\(wantedText), connections now \(active), served \(served), worker restarts \(restarts)",
                     "  refused: " + refused.map { "\($0.reason) \($0.count)" }.joined(separator: ", ")]
        let rows = [["PID", "GENERATION", "AGE", "REQUESTS", "CONNECTIONS", ""]] + workers.map { worker in
            [String(worker.pid), String(worker.generation), StatusReport.age(worker.ageSeconds), String(worker.requests),
             String(worker.active), worker.retiring ? "retiring" : ""]
        }
        let widths = (0..<5).map { column in rows.map { $0[column].count }.max() ?? 0 }
        for row in rows {
            let cells = (0..<5).map { column in String(repeating: " ", count: widths[column] - row[column].count) + row[column] }
            let line = "  " + cells.joined(separator: "  ") + (row[5].isEmpty ? "" : "  " + row[5])
            lines.append(line)
        }
        return lines
    }
}

extension StatusReport.Worker {
    var json: JSONValue {
        .object([
            ("pid", .integer(Int(pid))), ("generation", .integer(generation)), ("age_seconds", .integer(ageSeconds)),
            ("requests", .integer(requests)), ("active", .integer(active)), ("retiring", .bool(retiring)),
        ])
    }
}
