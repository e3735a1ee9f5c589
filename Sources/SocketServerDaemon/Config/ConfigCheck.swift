// The entry point of every configuration the daemon reads (start-up, --check-config; a reload
// through PendingConfigCheck). The reading process never runs plugin code: plugins are loaded and
// checked in a forked child (ConfigCheckChild.swift), which reports back over a pipe.
#if canImport(Glibc)
import Glibc
#endif
import CSocketServerShims
import SocketServer

enum ConfigCheck {
    /// How long a checking child may take (plugin constructors and validate callbacks included).
    static let timeout: Duration = .seconds(20)

    /// What a check needs besides the file: the handlers known, the CPUs (`workers = auto`), and
    /// whether the daemon runs as root (ownership rules for files and plugins).
    struct Context {
        let catalog: any HandlerCatalog
        let cpuCount: Int
        let forRoot: Bool
        /// Who checks whether the metrics address is taken (nil: nobody; start-up binds it).
        var listenerChecker: MetricsListenerCheck.Checker? = nil
    }

    /// Reads `path` and checks it, waiting for the plugin check if there is one (start-up and
    /// `--check-config`; the master's reload uses `PendingConfigCheck` from its own poll).
    /// Without [plugin] sections this is `ConfigLoader.load`. With them, a forked child loads the
    /// plugins and checks the whole configuration against them; its errors (file:line) are thrown,
    /// and a child that crashes or hangs becomes an error at the `path =` line of the plugin it was
    /// running. This process only checks the rest.
    static func load(path: String, catalog: any HandlerCatalog, cpuCount: Int, forRoot: Bool,
                     listenerChecker: MetricsListenerCheck.Checker? = nil) throws(ConfigErrors) -> DaemonConfig {
        let context = Context(catalog: catalog, cpuCount: cpuCount, forRoot: forRoot, listenerChecker: listenerChecker)
        var (check, progress) = PendingConfigCheck.start(path: path, context: context)
        while let running = check, case .running = progress {
            var entry = pollfd(fd: running.descriptor, events: Int16(POLLIN), revents: 0)
            _ = poll(&entry, 1, pollMilliseconds(ContinuousClock.now.duration(to: running.deadline)))
            progress = running.advance()
            if case .finished = progress { check = nil }
        }
        guard case .finished(let result) = progress else { throw ConfigErrors([]) }
        return try result.get()
    }

    /// The checks this process makes itself: everything but running plugin code; with a
    /// `listenerChecker`, whether the metrics address is free (or the running daemon's).
    static func validateHere(_ sources: ConfigSources, context: Context) -> Result<DaemonConfig, ConfigErrors> {
        Result { () throws(ConfigErrors) in
            let config = try ConfigValidator.validate(sources, catalog: context.catalog, plugins: DeferredPluginLoader(),
                                                      cpuCount: context.cpuCount, forRoot: context.forRoot)
            let problems = masterFileProblems(sources)
                + MetricsListenerCheck.problems(config, sources, checker: context.listenerChecker)
            if !problems.isEmpty { throw ConfigErrors(problems) }
            return config
        }
    }

    /// The files the master itself opens (as whoever it runs as): `log_file` and `pid_file` need
    /// a directory that exists, or the daemon would pass the check and then fail to start.
    static func masterFileProblems(_ sources: ConfigSources) -> [ConfigError] {
        var problems: [ConfigError] = []
        for section in sources.sections where section.kind == .daemon {
            for entry in section.entries where ["log_file", "pid_file"].contains(entry.key) && !entry.value.isEmpty {
                let directory = ConfigFiles.directory(of: entry.value)
                var info = stat()
                if stat(directory, &info) != 0 {
                    problems.append(ConfigError("\(entry.key) = \(entry.value): its directory \(directory): "
                                                + String(cString: strerror(errno)), at: entry.location))
                } else if info.st_mode & S_IFMT != S_IFDIR {
                    problems.append(ConfigError("\(entry.key) = \(entry.value): \(directory) is not a directory", at: entry.location))
                }
            }
        }
        return problems
    }

    enum Outcome: Equatable {
        /// The check ran to its end (or failed without a plugin to blame): these are its errors.
        case finished([ConfigError])
        /// The child died or hung while running this plugin's code.
        case pluginKilledCheck(plugin: String, message: String)
        /// The check was given up, for this reason.
        case abandoned(String)
    }

    /// Errors from the child's messages; if it never said `done`, what it was doing when it died.
    static func verdict(_ messages: [ConfigCheckMessage], status: Int32, timedOut: Bool) -> Outcome {
        var errors: [ConfigError] = []
        var busy: (plugin: String, location: SourceLocation, activity: String)? = nil
        for message in messages {
            switch message {
            case .busy(let plugin, let location, let activity): busy = (plugin, location, activity)
            case .idle: busy = nil
            case .error(let error): errors.append(error)
            case .done: return .finished(errors)
            }
        }
        let how = timedOut ? "did not finish within \(timeout.components.seconds) s and was killed" : describeExit(status)
        guard let busy else {
            return .finished(errors + [ConfigError("the process checking the plugins \(how)", at: nil)])
        }
        return .pluginKilledCheck(plugin: busy.plugin, message: "plugin \(ConfigText.quoted(busy.plugin)): the process "
            + "checking it \(how) while \(busy.activity); the plugin cannot be used")
    }
}
