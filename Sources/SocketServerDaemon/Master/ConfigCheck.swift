// Loading a configuration in a process that must never run plugin code (the master, --check-config):
// plugins are loaded and checked in a forked child, which reports back over a pipe.
#if canImport(Glibc)
import Glibc
#endif
import CSocketServerShims

enum ConfigCheck {
    /// How long a checking child may take (plugin constructors and validate callbacks included).
    static let timeout: Duration = .seconds(20)

    /// Reads `path` and checks it. Without [plugin] sections this is `ConfigLoader.load`. With them,
    /// a forked child loads the plugins and checks the whole configuration against them; its
    /// errors (file:line) are thrown, and a child that crashes or hangs becomes an error at the
    /// `path =` line of the plugin it was running. This process only checks the rest.
    /// `inChild` runs first in the child (close the master's fds, reset its signal handlers);
    /// `whileWaiting` runs about every 100 ms while this process waits for the child (the master
    /// keeps supervising its workers meanwhile); when it returns a reason, the child is killed and
    /// the check fails with "abandoned: REASON" (a stop signal arrived).
    static func load(path: String, catalog: any HandlerCatalog, cpuCount: Int, forRoot: Bool,
                     inChild: () -> Void = {}, whileWaiting: () -> String? = { nil }) throws(ConfigErrors) -> DaemonConfig {
        let sources = ConfigSources.load(path: path)
        let declaresPlugins = sources.sections.contains { section in
            if case .plugin = section.kind { return true } else { return false }
        }
        if declaresPlugins {
            // A plugin that kills the checking child is marked failed and the check runs again, so
            // that one bad plugin does not hide the other errors.
            var broken: [String: String] = [:]
            while true {
                switch checkInChild(sources, catalog: catalog, cpuCount: cpuCount, forRoot: forRoot, broken: broken,
                                    inChild: inChild, whileWaiting: whileWaiting) {
                case .finished(let errors):
                    if !errors.isEmpty { throw ConfigErrors(errors) }
                case .abandoned(let reason):
                    throw ConfigErrors([ConfigError("the plugin check was abandoned: \(reason)", at: nil)])
                case .pluginKilledCheck(let plugin, let message):
                    if broken[plugin] == nil {
                        broken[plugin] = message
                        continue
                    }
                    throw ConfigErrors([ConfigError(message, at: nil)])
                }
                break
            }
        }
        return try ConfigValidator.validate(sources, catalog: catalog, plugins: DeferredPluginLoader(),
                                            cpuCount: cpuCount, forRoot: forRoot)
    }

    enum Outcome: Equatable {
        /// The check ran to its end (or failed without a plugin to blame): these are its errors.
        case finished([ConfigError])
        /// The child died or hung while running this plugin's code.
        case pluginKilledCheck(plugin: String, message: String)
        /// `whileWaiting` gave up on the check (and the child was killed), for this reason.
        case abandoned(String)
    }

    /// Forks, lets the child check (treating `broken` plugins as failed without loading them),
    /// and turns what it said, or how it ended, into an outcome.
    static func checkInChild(_ sources: ConfigSources, catalog: any HandlerCatalog, cpuCount: Int, forRoot: Bool,
                             broken: [String: String], inChild: () -> Void, whileWaiting: () -> String? = { nil }) -> Outcome {
        var fds: [Int32] = [-1, -1]
        guard cssd_pipe_cloexec(&fds, 0) == 0 else {
            return .finished([ConfigError("cannot check plugins: pipe: \(String(cString: strerror(errno)))", at: nil)])
        }
        var all = sigset_t()
        var previous = sigset_t()
        sigfillset(&all)
        sigprocmask(SIG_BLOCK, &all, &previous)
        let pid = fork()
        if pid == 0 {
            close(fds[0])
            _ = cssd_set_parent_death_signal(SIGKILL)
            inChild()
            // No signal blocked: not even those the master holds during its start-up.
            var none = sigset_t()
            sigemptyset(&none)
            sigprocmask(SIG_SETMASK, &none, nil)
            runChild(sources, catalog: catalog, cpuCount: cpuCount, forRoot: forRoot, broken: broken, reportingTo: fds[1])
        }
        sigprocmask(SIG_SETMASK, &previous, nil)
        close(fds[1])
        defer { close(fds[0]) }
        guard pid > 0 else {
            return .finished([ConfigError("cannot check plugins: fork: \(String(cString: strerror(errno)))", at: nil)])
        }
        let (bytes, timedOut, abandoned) = readAll(fds[0], child: pid, whileWaiting: whileWaiting)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        if let abandoned { return .abandoned(abandoned) }
        return verdict(ConfigCheckMessage.decode(bytes), status: status, timedOut: timedOut)
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

    /// Reads until EOF, the deadline or `whileWaiting` giving a reason to stop (then the child is killed).
    private static func readAll(_ fd: Int32, child: pid_t, whileWaiting: () -> String?)
        -> (bytes: [UInt8], timedOut: Bool, abandoned: String?) {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let left = ContinuousClock.now.duration(to: deadline)
            if left <= .zero {
                kill(child, SIGKILL)
                return (bytes, true, nil)
            }
            var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let milliseconds = Int32(clamping: left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000 + 1)
            let ready = poll(&entry, 1, min(milliseconds, 100))
            if ready < 0 && errno != EINTR { return (bytes, false, nil) }
            guard ready > 0 else {
                if let reason = whileWaiting() {
                    kill(child, SIGKILL)
                    return (bytes, false, reason)
                }
                continue
            }
            let count = read(fd, &buffer, buffer.count)
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { return (bytes, false, nil) }
            bytes += buffer[..<count]
        }
    }

    /// The child: become the daemon's user (plugin code never runs as root), check with the
    /// plugins loaded, report, exit.
    private static func runChild(_ sources: ConfigSources, catalog: any HandlerCatalog, cpuCount: Int, forRoot: Bool,
                                 broken: [String: String], reportingTo fd: Int32) -> Never {
        Logger.shared.level = .error
        // A plugin that crashes this process should end it quietly (the parent reports it), not
        // through the Swift runtime's backtracer, whose handler would even resume after raise().
        for fatal in [SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP] { signal(fatal, SIG_DFL) }
        var errors: [ConfigError] = []
        var loader: any PluginLoader = SkippingPluginLoader(broken: broken, loader: DynamicPluginLoader { plugin, activity in
            let message: ConfigCheckMessage = activity.map { .busy(plugin: plugin.name, location: plugin.location, activity: $0) } ?? .idle
            message.write(to: fd)
        })
        var daemon = DaemonConfig()
        var ignored = Diagnostics()
        DaemonSection.apply(sources.sections.filter { $0.kind == .daemon }, to: &daemon, forRoot: forRoot, diagnostics: &ignored)
        do {
            try Credentials.apply(Credentials.resolve(for: daemon))
        } catch {
            errors.append(ConfigError("plugins not checked: cannot become user \(daemon.user ?? "nobody") to load them: \(error)",
                                      at: nil))
            loader = DeferredPluginLoader()
        }
        do {
            _ = try ConfigValidator.validate(sources, catalog: catalog, plugins: loader, cpuCount: cpuCount, forRoot: forRoot)
        } catch {
            errors = error.errors + errors
        }
        for error in errors { ConfigCheckMessage.error(error).write(to: fd) }
        ConfigCheckMessage.done.write(to: fd)
        _exit(0)
    }
}

/// Reports the plugins that killed an earlier check as failed, and loads the rest.
struct SkippingPluginLoader: PluginLoader {
    let broken: [String: String]
    let loader: any PluginLoader

    func load(_ plugin: PluginConfig) -> PluginLoadResult {
        if let message = broken[plugin.name] { return .failed(message) }
        return loader.load(plugin)
    }
}
