// The program handler's keys: a long-lived program that the master runs as each worker of the
// service, handing it the listening socket as systemd's socket activation does. Declared and
// checked here like any handler's keys; the daemon's master starts the programs.
#if canImport(Glibc)
import Glibc
#endif

/// When a program worker counts as ready (the old generation retires once every new one is).
public enum ProgramReadiness: String, Sendable, CaseIterable {
    /// Once the program is running (its exec succeeded).
    case started
    /// Once it sends READY=1 to its own NOTIFY_SOCKET (sd_notify).
    case notify
}

/// A program service's settings, parsed from its handler keys.
public struct ProgramSettings: Equatable, Sendable {
    public let program: String
    public let arguments: [String]
    public let readiness: ProgramReadiness
    public let stopSignal: Int32
    /// `environment`'s NAME=VALUE words, in order.
    public let environment: [String]
    public let directory: String
    /// How long a program may take to become ready before it is killed and started again.
    public let startTimeout: Duration

    /// The keys and their defaults (`command` is required).
    public static let keys: [String: String?] = [
        "command": nil, "ready": ProgramReadiness.started.rawValue, "stop_signal": "TERM", "environment": "",
        "start_timeout": "30", WorkingDirectory.key: WorkingDirectory.defaultValue,
    ]
    public static let keyDocs = [
        "command": ExecRunner.keyDocs["command"] ?? "",
        "ready": "started (ready once running) or notify (ready once it sends READY=1 to its NOTIFY_SOCKET)",
        "stop_signal": "the signal that asks the program to finish (reload, stop): TERM, INT, QUIT, HUP, USR1, USR2, WINCH or KILL",
        "environment": "NAME=VALUE words added to the program's environment (quoted as command)",
        "start_timeout": "seconds a program may take to become ready before it is killed and started again",
        WorkingDirectory.key: WorkingDirectory.doc,
    ]

    /// The signals `stop_signal` may name, without their SIG prefix.
    static let signals: [(name: String, number: Int32)] = [
        ("TERM", SIGTERM), ("INT", SIGINT), ("QUIT", SIGQUIT), ("HUP", SIGHUP), ("USR1", SIGUSR1), ("USR2", SIGUSR2),
        ("WINCH", SIGWINCH), ("KILL", SIGKILL),
    ]

    /// Variables the daemon sets itself, which `environment` may not.
    static let reservedVariables = ["LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "NOTIFY_SOCKET"]

    /// The settings in `options` (defaults filled in), or every problem with their text. The
    /// files they name are checked by `validate`.
    public static func parse(_ options: [String: String]) -> Result<ProgramSettings, ProgramSettingsError> {
        var problems: [(key: String, problem: String)] = []
        var command: ExecCommand? = nil
        if let text = options["command"] {
            switch ExecCommand.parse(text) {
            case .failure(let error): problems.append(("command", error.description))
            case .success(let parsed): command = parsed
            }
        } else {
            problems.append(("command", "missing"))
        }
        let readyText = options["ready"] ?? ProgramReadiness.started.rawValue
        let readiness = ProgramReadiness(rawValue: readyText)
        if readiness == nil { problems.append(("ready", "must be started or notify, not \"\(readyText)\"")) }
        let signalText = options["stop_signal"] ?? "TERM"
        let bare = signalText.hasPrefix("SIG") ? String(signalText.dropFirst(3)) : signalText
        let stopSignal = signals.first { $0.name == bare }?.number
        if stopSignal == nil {
            problems.append(("stop_signal", "unknown signal \"\(signalText)\" (expected "
                             + signals.map(\.name).joined(separator: ", ") + ")"))
        }
        let environment = parseEnvironment(options["environment"] ?? "", problems: &problems)
        let directory = options[WorkingDirectory.key] ?? WorkingDirectory.defaultValue
        if !directory.hasPrefix("/") { problems.append((WorkingDirectory.key, "must be an absolute path, not \"\(directory)\"")) }
        let timeoutText = options["start_timeout"] ?? "30"
        let startTimeout = parseSeconds(timeoutText)
        if startTimeout == nil {
            problems.append(("start_timeout", "must be seconds above 0 and up to 86400, not \"\(timeoutText)\""))
        }
        guard problems.isEmpty, let command, let readiness, let stopSignal, let startTimeout else {
            return .failure(ProgramSettingsError(problems: problems))
        }
        return .success(ProgramSettings(program: command.program, arguments: command.arguments, readiness: readiness,
                                        stopSignal: stopSignal, environment: environment, directory: directory,
                                        startTimeout: startTimeout))
    }

    /// Every problem with `options`: their text, a program that is missing or not executable, a
    /// working directory that does not exist.
    public static func validate(_ options: [String: String]) -> [(key: String, problem: String)] {
        var problems: [(key: String, problem: String)] = []
        if case .failure(let error) = parse(options) { problems = error.problems }
        if let text = options["command"], case .success(let command) = ExecCommand.parse(text), let problem = command.fileProblem() {
            problems.append(("command", problem))
        }
        let directory = options[WorkingDirectory.key] ?? WorkingDirectory.defaultValue
        if directory.hasPrefix("/"), let problem = WorkingDirectory.problem(directory) { problems.append((WorkingDirectory.key, problem)) }
        return problems
    }

    /// `NAME=VALUE` words (quoted as `command` is); a name is letters, digits and _, not starting with a digit.
    private static func parseEnvironment(_ text: String, problems: inout [(key: String, problem: String)]) -> [String] {
        let words: [String]
        switch ExecCommand.splitWords(text) {
        case .failure(let error):
            problems.append(("environment", error.description))
            return []
        case .success(let split): words = split
        }
        for word in words {
            guard let equals = word.firstIndex(of: "=") else {
                problems.append(("environment", "\"\(word)\" is not NAME=VALUE"))
                continue
            }
            let name = word[..<equals]
            let valid = name.first.map { !$0.isNumber } ?? false
                && name.allSatisfy { $0 == "_" || ($0.isASCII && ($0.isLetter || $0.isNumber)) }
            if !valid {
                problems.append(("environment", "\"\(name)\" is not a variable name (letters, digits and _)"))
            } else if reservedVariables.contains(String(name)) {
                problems.append(("environment", "\(name) is set by socketserverd itself"))
            }
        }
        return words
    }

    /// Positive seconds up to a day, fractions allowed.
    private static func parseSeconds(_ text: String) -> Duration? {
        guard !text.isEmpty, text.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }),
              let value = Double(text), value > 0, value <= 86400 else { return nil }
        return .milliseconds(Int64((value * 1000).rounded()))
    }
}

public struct ProgramSettingsError: Error, CustomStringConvertible {
    public let problems: [(key: String, problem: String)]
    public var description: String { problems.map { "\($0.key): \($0.problem)" }.joined(separator: "; ") }
}
