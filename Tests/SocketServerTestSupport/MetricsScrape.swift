// Scraping the daemon's /metrics as Prometheus does, and reading the exposition back with a parser
// nobody here wrote: Python's prometheus_client (`text_string_to_metric_families`).
import Foundation
import Glibc
import SocketServer
import XCTest

/// One HTTP answer from the metrics listener.
public struct HTTPAnswer {
    public let status: Int
    /// Header names in lower case.
    public let headers: [String: String]
    public let body: String
}

/// Sends `request` (a whole HTTP request) to `address` and reads the answer to the end (the
/// metrics process closes every connection after its answer).
public func httpExchange(_ address: SocketAddress, _ request: String, timeout: Duration = ioTimeout) throws -> HTTPAnswer {
    let socket = try connectClient(address, timeout: timeout)
    defer { socket.close() }
    try socket.sendAll(request)
    let bytes = try readAll(socket)
    guard let split = bytes.firstRange(of: Array("\r\n\r\n".utf8)) else {
        throw TestFailure.setup("no end of header in the answer: \(String(decoding: bytes, as: UTF8.self))")
    }
    let head = String(decoding: bytes[..<split.lowerBound], as: UTF8.self).components(separatedBy: "\r\n")
    let status = head.first.flatMap { $0.split(separator: " ").dropFirst().first }.flatMap { Int($0) } ?? -1
    var headers: [String: String] = [:]
    for line in head.dropFirst() {
        guard let colon = line.firstIndex(of: ":") else { continue }
        headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
    }
    return HTTPAnswer(status: status, headers: headers, body: String(decoding: bytes[split.upperBound...], as: UTF8.self))
}

/// `GET /metrics` on `address`.
public func scrapeMetrics(_ address: SocketAddress, timeout: Duration = ioTimeout) throws -> HTTPAnswer {
    try httpExchange(address, "GET /metrics HTTP/1.1\r\nHost: localhost\r\nAccept: text/plain\r\n\r\n", timeout: timeout)
}

/// One sample as prometheus_client parsed it.
public struct ParsedSample: Equatable {
    public let name: String
    public let labels: [String: String]
    public let value: Double
}

/// One metric family as prometheus_client parsed it. Its name is the parser's: for a counter,
/// without `_total` (the samples keep it).
public struct ParsedFamily {
    public let name: String
    public let type: String
    public let help: String
    public let samples: [ParsedSample]
}

/// An exposition as prometheus_client read it, with look-ups by sample name and labels.
public struct ParsedMetrics {
    public let families: [ParsedFamily]

    /// The family that holds samples named `sample` (`x_total`, `x_bucket`, or `x` itself).
    public func family(of sample: String) -> ParsedFamily? {
        families.first { family in family.samples.contains { $0.name == sample } }
            ?? families.first { $0.name == sample || $0.name + "_total" == sample }
    }

    /// Every sample named `name`.
    public func samples(_ name: String) -> [ParsedSample] { families.flatMap(\.samples).filter { $0.name == name } }

    /// The value of the sample `name` with exactly `labels`, or nil.
    public func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        samples(name).first { $0.labels == labels }?.value
    }
}

/// A Python 3 that has prometheus_client, or a skip that says how to install it.
public func prometheusPython() throws -> String {
    let path = getenv("PATH").map { String(cString: $0) } ?? ""
    let candidates = path.split(separator: ":").map { "\($0)/python3" } + ["/usr/bin/python3", "/usr/local/bin/python3"]
    for candidate in candidates where access(candidate, X_OK) == 0 {
        let probe = try runProgram(candidate, ["-c", "import prometheus_client.parser"], env: inheritedEnvironment)
        if probe.status == 0 { return candidate }
    }
    throw XCTSkip("Python's prometheus_client is not installed (pip install prometheus-client; .ci/run installs it): "
                  + "the exposition cannot be checked against an independent parser")
}

/// Parses `text` with prometheus_client's text parser; a parse error fails with its message.
public func parseMetrics(_ text: String, in directory: String) throws -> ParsedMetrics {
    let python = try prometheusPython()
    let input = writeFile(text, to: directory + "/scrape-\(UInt32.random(in: 0...UInt32.max)).txt", mode: 0o644)
    defer { unlink(input) }
    let script = """
        import json, sys
        from prometheus_client.parser import text_string_to_metric_families
        families = []
        for f in text_string_to_metric_families(open(sys.argv[1], encoding="utf-8").read()):
            families.append({"name": f.name, "type": f.type, "help": f.documentation,
                             "samples": [{"name": s.name, "labels": s.labels, "value": s.value} for s in f.samples]})
        json.dump(families, sys.stdout)
        """
    let result = try runProgram(python, ["-c", script, input], env: inheritedEnvironment)
    guard result.status == 0 else { throw TestFailure.setup("prometheus_client could not parse the exposition: \(result.stderr)") }
    guard let list = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]] else {
        throw TestFailure.setup("unexpected parser output: \(result.stdout)")
    }
    return ParsedMetrics(families: list.map { family in
        let samples = (family["samples"] as? [[String: Any]] ?? []).map { sample in
            ParsedSample(name: sample["name"] as? String ?? "", labels: sample["labels"] as? [String: String] ?? [:],
                         value: (sample["value"] as? NSNumber)?.doubleValue ?? .nan)
        }
        return ParsedFamily(name: family["name"] as? String ?? "", type: family["type"] as? String ?? "",
                            help: family["help"] as? String ?? "", samples: samples)
    })
}
