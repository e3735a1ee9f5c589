// Command-line arguments: socketserverd [--config FILE] [--check-config] [--help-config] [--version] [--help],
// socketserverd status [--config FILE] [--json], socketserverd scale [--config FILE] SERVICE N.
import SocketServerDaemon

/// What the command line asks for.
struct Arguments {
    static let defaultConfigPath = "/etc/socketserverd/socketserverd.conf"

    /// A command that talks to the running daemon instead of being one.
    enum Command: Equatable {
        case status(json: Bool)
        case scale(service: String, workers: Int)
    }

    var configPath = Arguments.defaultConfigPath
    var checkOnly = false
    var showVersion = false
    var showHelp = false
    var showConfigHelp = false
    var command: Command? = nil

    static let usage = """
        usage: socketserverd [--config FILE] [--check-config] [--help-config] [--version] [--help]
               socketserverd status [--config FILE] [--json]
               socketserverd scale [--config FILE] SERVICE N

        A pre-fork socket server daemon. Runs in the foreground and logs to stderr.

          -c, --config FILE    configuration file (default \(defaultConfigPath))
          -t, --check-config   validate the configuration (and its includes) and exit
              --help-config    list every configuration key with its default and exit
          -v, --version        print the version and exit
          -h, --help           print this help and exit

        Commands, to the running daemon through its control_socket (found through the config):
          status [--json]      its services, workers and counters (--json: one JSON object)
          scale SERVICE N      run N workers of SERVICE until the next reload

        Signals: HUP reload, TERM graceful stop, INT/QUIT fast stop,
                 TTIN/TTOU one worker more/fewer per service, USR1 reopen the log,
                 USR2 binary upgrade (same pid).
        """

    /// Parses `arguments` (without the program name); the error text is for stderr.
    static func parse(_ arguments: [String]) -> Result<Arguments, ArgumentError> {
        var result = Arguments()
        var rest = arguments[...]
        var words: [String] = []
        var json = false
        while let argument = rest.popFirst() {
            switch argument {
            case "-c", "--config":
                guard let value = rest.popFirst(), !value.isEmpty else { return .failure(ArgumentError("\(argument) needs a file name")) }
                result.configPath = value
            case _ where argument.hasPrefix("--config="):
                result.configPath = String(argument.dropFirst("--config=".count))
            case "-t", "--check-config": result.checkOnly = true
            case "-v", "--version": result.showVersion = true
            case "-h", "--help": result.showHelp = true
            case "--help-config": result.showConfigHelp = true
            case "--json": json = true
            case _ where argument.hasPrefix("-") && argument.count > 1:
                return .failure(ArgumentError("unknown argument \(argument)"))
            default: words.append(argument)
            }
        }
        switch parseCommand(words, json: json) {
        case .success(let command): result.command = command
        case .failure(let error): return .failure(error)
        }
        if result.command != nil, result.checkOnly || result.showConfigHelp {
            return .failure(ArgumentError("\(words[0]) takes no --check-config or --help-config"))
        }
        return .success(result)
    }

    /// The command the words name (none: run the daemon), with its operands checked.
    private static func parseCommand(_ words: [String], json: Bool) -> Result<Command?, ArgumentError> {
        guard let name = words.first else {
            return json ? .failure(ArgumentError("--json goes with status")) : .success(nil)
        }
        switch name {
        case "status":
            guard words.count == 1 else { return .failure(ArgumentError("status takes no operand, got \(words[1])")) }
            return .success(.status(json: json))
        case "scale":
            if json { return .failure(ArgumentError("--json goes with status")) }
            guard words.count == 3 else { return .failure(ArgumentError("scale needs SERVICE and N")) }
            let range = Daemon.scaleRange
            guard words[2].allSatisfy(\.isASCII), let count = Int(words[2]), range.contains(count) else {
                return .failure(ArgumentError("scale: N must be a whole number from \(range.lowerBound) to \(range.upperBound), "
                                              + "got \(words[2])"))
            }
            return .success(.scale(service: words[1], workers: count))
        default:
            return .failure(ArgumentError("unknown command \(name) (expected status or scale)"))
        }
    }
}

struct ArgumentError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
