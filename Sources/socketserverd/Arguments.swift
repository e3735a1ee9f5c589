// Command-line arguments: socketserverd [--config FILE] [--check-config] [--help-config] [--version] [--help]

/// What the command line asks for.
struct Arguments {
    static let defaultConfigPath = "/etc/socketserverd/socketserverd.conf"

    var configPath = Arguments.defaultConfigPath
    var checkOnly = false
    var showVersion = false
    var showHelp = false
    var showConfigHelp = false

    static let usage = """
        usage: socketserverd [--config FILE] [--check-config] [--help-config] [--version] [--help]

        A pre-fork socket server daemon. Runs in the foreground and logs to stderr.

          -c, --config FILE    configuration file (default \(defaultConfigPath))
          -t, --check-config   validate the configuration (and its includes) and exit
              --help-config    list every configuration key with its default and exit
          -v, --version        print the version and exit
          -h, --help           print this help and exit

        Signals: HUP reload, TERM graceful stop, INT/QUIT fast stop,
                 TTIN/TTOU one worker more/fewer per service, USR1 reopen the log,
                 USR2 binary upgrade (same pid).
        """

    /// Parses `arguments` (without the program name); the error text is for stderr.
    static func parse(_ arguments: [String]) -> Result<Arguments, ArgumentError> {
        var result = Arguments()
        var rest = arguments[...]
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
            default: return .failure(ArgumentError("unknown argument \(argument)"))
            }
        }
        return .success(result)
    }
}

struct ArgumentError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
