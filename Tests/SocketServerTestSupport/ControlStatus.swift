// `socketserverd status --json` as a test reads it: run the real command, parse its JSON with
// Foundation's parser, look at the daemon, its services and their workers.
import Foundation
import XCTest

/// The object `status --json` prints, with typed access to the parts tests look at.
public struct DaemonStatus {
    public let object: [String: Any]

    public init(json: String) throws {
        guard let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any] else {
            throw TestFailure.setup("status --json is not an object: \(json)")
        }
        self.object = object
    }

    public func int(_ key: String) -> Int? { object[key] as? Int }
    public var pid: Int? { int("pid") }
    public var generation: Int? { int("generation") }
    public var reloads: (ok: Int?, failed: Int?) {
        let reloads = object["reloads"] as? [String: Any]
        return (reloads?["ok"] as? Int, reloads?["failed"] as? Int)
    }
    public var services: [[String: Any]] { object["services"] as? [[String: Any]] ?? [] }
    public var serviceNames: [String] { services.compactMap { $0["name"] as? String } }

    public func service(_ name: String) -> [String: Any]? { services.first { $0["name"] as? String == name } }

    /// A service's workers, each an object with pid, generation, requests, active, …
    public func workers(_ name: String) -> [[String: Any]] { service(name)?["workers"] as? [[String: Any]] ?? [] }

    /// A service's worker pids, sorted.
    public func workerPIDs(_ name: String) -> [pid_t] { workers(name).compactMap { ($0["pid"] as? Int).map(pid_t.init) }.sorted() }

    /// Every listed worker's pid, sorted.
    public var allWorkerPIDs: [pid_t] { serviceNames.flatMap(workerPIDs).sorted() }
}

extension DaemonTestCase {
    /// `socketserverd status --config CONFIG [--json]` run to its end.
    public func runStatus(json: Bool = false, config: String? = nil, environment: [String] = ["PATH=/usr/bin:/bin"]) throws -> ProcessOutput {
        try runProgram(DaemonProcess.binaryPath, ["status", "--config", config ?? configPath] + (json ? ["--json"] : []), env: environment)
    }

    /// `status --json`, parsed; fails the test (and throws) when the command does not succeed.
    public func daemonStatus(config: String? = nil, file: StaticString = #filePath, line: UInt = #line) throws -> DaemonStatus {
        let result = try runStatus(json: true, config: config)
        guard result.status == 0 else {
            XCTFail("status --json exited \(result.status.map(String.init) ?? "(killed)"): \(result.output)", file: file, line: line)
            throw TestFailure.setup("status --json failed")
        }
        return try DaemonStatus(json: result.stdout)
    }

    /// Asks `status --json` until `condition` holds (the master's view moves as workers start and
    /// exit); the last status, which the caller asserts on.
    public func daemonStatus(within limit: Duration = .seconds(10), config: String? = nil,
                             until condition: (DaemonStatus) -> Bool) throws -> DaemonStatus {
        var last = try daemonStatus(config: config)
        _ = try eventually(within: limit, every: .milliseconds(50)) {
            last = try daemonStatus(config: config)
            return condition(last)
        }
        return last
    }
}
