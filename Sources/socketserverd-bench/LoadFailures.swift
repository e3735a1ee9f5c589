// The ways a load request fails and their counts: kept by each load thread, written on the load
// process's RESULT line, read back by the benchmark and reported.

/// How a request failed, named as on the RESULT line and in the report.
enum LoadFailure: Int, CaseIterable, CustomStringConvertible {
    /// Connecting failed: the connect itself, or the first send while it was in progress.
    case connect
    /// The connection was reset or broke while sending or receiving.
    case reset
    /// The server closed the connection before the whole reply came back.
    case eof
    /// The reply differed from the request.
    case mismatch
    /// The reply took longer than the load's `timeout`.
    case timeout
    /// Still unanswered when the run ended, after the timeout or the whole measured window.
    case stalled

    var description: String {
        switch self {
        case .connect: return "connect"
        case .reset: return "reset"
        case .eof: return "eof"
        case .mismatch: return "mismatch"
        case .timeout: return "timeout"
        case .stalled: return "stalled"
        }
    }
}

/// A count for each `LoadFailure`.
struct FailureCounts {
    private var counts = [Int](repeating: 0, count: LoadFailure.allCases.count)

    init() {}

    /// The counts of a RESULT line's `name=count` fields; a missing one is 0.
    init(resultFields fields: [String: String]) {
        for failure in LoadFailure.allCases { self[failure] = Int(fields[failure.description] ?? "") ?? 0 }
    }

    subscript(failure: LoadFailure) -> Int {
        get { counts[failure.rawValue] }
        set { counts[failure.rawValue] = newValue }
    }

    var total: Int { counts.reduce(0, +) }

    mutating func add(_ other: FailureCounts) {
        for index in counts.indices { counts[index] += other.counts[index] }
    }

    /// `connect=0 reset=2 …`: every count, for the RESULT line.
    var resultFields: String {
        LoadFailure.allCases.map { "\($0)=\(self[$0])" }.joined(separator: " ")
    }

    /// `2 reset, 1 timeout`: the counts that are not 0, for the report.
    var detail: String {
        LoadFailure.allCases.filter { self[$0] > 0 }.map { "\(self[$0]) \($0)" }.joined(separator: ", ")
    }
}
