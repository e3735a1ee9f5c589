// A configuration check in progress: the child that loads the plugins, read without blocking, so
// that the master can wait for it in its own poll beside the signal pipe (ConfigCheck.load waits
// for it alone).
#if canImport(Glibc)
import Glibc
#endif
import CSocketServerShims

/// One check of a configuration that declares plugins, or of any configuration as root. The child reports over a pipe (`descriptor`);
/// the owner calls `advance()` when the pipe is readable or `deadline` has passed. A plugin that
/// kills the child is marked failed and a new child checks again, so that one bad plugin does not
/// hide the other errors. Without plugins no child is needed: `start` returns the result at once.
final class PendingConfigCheck {
    enum Progress {
        case running
        case finished(Result<DaemonConfig, ConfigErrors>)
    }

    let path: String
    private let sources: ConfigSources
    private let context: ConfigCheck.Context
    private let inChild: () -> Void
    private var broken: [String: String] = [:]
    private var child = ChildPipe()
    var pid: pid_t { child.pid }
    var descriptor: Int32 { child.descriptor }
    private(set) var deadline = ContinuousClock.now
    private var bytes: [UInt8] = []

    private init(path: String, sources: ConfigSources, context: ConfigCheck.Context, inChild: @escaping () -> Void) {
        self.path = path
        self.sources = sources
        self.context = context
        self.inChild = inChild
    }

    /// Reads `path` and its includes; starts the checking child if the files declare plugins.
    /// `inChild` runs first in the child (close the master's descriptors, reset its signals).
    static func start(path: String, context: ConfigCheck.Context, inChild: @escaping () -> Void = {})
        -> (PendingConfigCheck?, Progress) {
        let sources = ConfigSources.load(path: path, forRoot: context.forRoot)
        let declaresPlugins = sources.sections.contains { section in
            if case .plugin = section.kind { return true } else { return false }
        }
        // As root the child also checks, as the workers' user, what the workers will touch (an
        // upload directory, an exec program): root would pass checks the user then fails.
        guard declaresPlugins || context.forRoot else { return (nil, .finished(ConfigCheck.validateHere(sources, context: context))) }
        let check = PendingConfigCheck(path: path, sources: sources, context: context, inChild: inChild)
        if let failure = check.spawn() { return (nil, .finished(.failure(ConfigErrors([failure])))) }
        return (check, .running)
    }

    /// Reads what the child wrote; at EOF or past the deadline reaps it and decides.
    func advance(now: ContinuousClock.Instant = .now) -> Progress {
        if child.readAvailable(into: &bytes) { return conclude(timedOut: false) }
        guard now >= deadline else { return .running }
        kill(pid, SIGKILL)
        return conclude(timedOut: true)
    }

    /// Kills the child (a stop signal arrived); the check fails with "abandoned: REASON".
    func abandon(reason: String) -> ConfigErrors {
        child.kill()
        return ConfigErrors([ConfigError("the plugin check was abandoned: \(reason)", at: nil)])
    }

    private func conclude(timedOut: Bool) -> Progress {
        let status = child.reap()
        let outcome = ConfigCheck.verdict(ConfigCheckMessage.decode(bytes), status: status, timedOut: timedOut)
        switch outcome {
        case .finished(let errors):
            if !errors.isEmpty { return .finished(.failure(ConfigErrors(errors))) }
            return .finished(ConfigCheck.validateHere(sources, context: context))
        case .pluginKilledCheck(let plugin, let message):
            guard broken[plugin] == nil else { return .finished(.failure(ConfigErrors([ConfigError(message, at: nil)]))) }
            broken[plugin] = message
            if let failure = spawn() { return .finished(.failure(ConfigErrors([failure]))) }
            return .running
        case .abandoned(let reason):
            return .finished(.failure(ConfigErrors([ConfigError("the plugin check was abandoned: \(reason)", at: nil)])))
        }
    }

    /// Forks a checking child (signals blocked across the fork, as for a worker); nil or why not.
    private func spawn() -> ConfigError? {
        var fds: [Int32] = [-1, -1]
        guard cssd_pipe_cloexec(&fds, 0) == 0 else {
            return ConfigError("cannot check plugins: pipe: \(String(cString: strerror(errno)))", at: nil)
        }
        bytes = []
        deadline = ContinuousClock.now.advanced(by: ConfigCheck.timeout)
        let child = forkWithSignalsBlocked { [sources, context, broken, inChild] _ in
            close(fds[0])
            _ = cssd_set_parent_death_signal(SIGKILL)
            inChild()
            // No signal blocked: not even those the master holds during its start-up.
            unblockAllSignals()
            ConfigCheck.runChild(sources, context: context, broken: broken, reportingTo: fds[1])
        }
        close(fds[1])
        guard child > 0 else {
            close(fds[0])
            return ConfigError("cannot check plugins: fork: \(String(cString: strerror(errno)))", at: nil)
        }
        self.child = ChildPipe(pid: child, descriptor: fds[0])
        return nil
    }
}
