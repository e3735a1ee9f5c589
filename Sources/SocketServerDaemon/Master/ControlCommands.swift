// What the master answers on its control socket: `status`, `status json`, `scale N SERVICE`.
// An answer is `ok` and the text to print, or one line `error: …`.
#if canImport(Glibc)
import Glibc
#endif
import SocketServer

/// The control socket's request lines, as `socketserverd status` and `scale` send them.
enum ControlRequest: Equatable {
    case status(json: Bool)
    /// The count comes first: a service name is everything after it.
    case scale(service: String, workers: Int)

    var line: String {
        switch self {
        case .status(let json): return json ? "status json" : "status"
        case .scale(let service, let workers): return "scale \(workers) \(service)"
        }
    }

    init?(line: String) {
        let words = line.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
        switch words.first {
        case "status" where words.count == 1: self = .status(json: false)
        case "status" where words.count == 2 && words[1] == "json": self = .status(json: true)
        case "scale" where words.count == 3:
            guard let count = Int(words[1]), !words[2].isEmpty else { return nil }
            self = .scale(service: words[2], workers: count)
        default: return nil
        }
    }
}

extension Arbiter {
    /// The answer to one request line.
    func answerControl(_ line: String) -> String {
        switch ControlRequest(line: line) {
        case .status(let json)?:
            let report = statusReport()
            return "ok\n" + (json ? report.json.text + "\n" : report.text)
        case .scale(let service, let workers)?:
            switch scale(service, to: workers) {
            case .success(let text): return "ok\n" + text + "\n"
            case .failure(let error): return "error: \(error)\n"
            }
        case nil:
            return "error: unknown request \(ConfigText.quoted(String(line.prefix(80)))) "
                + "(expected status, status json or scale N SERVICE)\n"
        }
    }

    /// `scale`: `service` runs `workers` workers until the next reload. TTIN and TTOU still add
    /// and take one from every service, this one included.
    func scale(_ service: String, to workers: Int) -> Result<String, DaemonError> {
        guard !state.isStopping else { return .failure(.message("the daemon is stopping")) }
        guard cycle.service(named: service) != nil else {
            let names = cycle.services.map(\.name)
            return .failure(.message("no service \(ConfigText.quoted(service)) (services: \(names.joined(separator: ", ")))"))
        }
        guard ServiceKeys.workerRange.contains(workers) else {
            return .failure(.message("the worker count must be from \(ServiceKeys.workerRange.lowerBound) to "
                                     + "\(ServiceKeys.workerRange.upperBound), got \(workers)"))
        }
        let before = demands(extra: extraWorkers).first { $0.name == service }?.wanted ?? 0
        scaledWorkers[service] = workers - extraWorkers
        supervisor.adjust(demands: demands(extra: extraWorkers))
        let text = "service \(service): \(workers) workers (was \(before)) until the next reload"
        log.info("control socket: scale: \(text)")
        return .success(text)
    }

    /// What the supervisor starts workers for: the config's counts, those `scale` set, and `extra`
    /// more (or fewer) each from TTIN/TTOU.
    func demands(extra: Int) -> [ServiceDemand] { cycle.demands(extra: extra, scaled: scaledWorkers) }
}
