// The servers under test: how each is started, probed, measured (RSS, CPU) and stopped.
#if canImport(Glibc)
import Glibc
#endif
import SocketServer

/// A program socketserverd runs as each worker (handler = program).
enum ProgramPeer: Equatable {
    /// python_program_echo.py: the threading line echo through the socketserverd module.
    case python
    /// The C reference in its `fd 3` mode, one process per worker.
    case c
}

enum ServerKind: Equatable {
    case daemon(concurrency: String)
    /// socketserverd's `exec` handler running /bin/cat per connection, two workers, the default concurrency.
    case exec
    /// A program that runs /bin/cat per connection (ExecPeers.swift).
    case execPeer(ExecPeer)
    /// socketserverd with two program workers.
    case program(ProgramPeer)
    case pythonForking
    case pythonThreading
    case cReference
    /// c_fork_echo.c: a child forked per connection; with `swiftRuntime`, linked with the Swift
    /// runtime's libraries (mapped, never called), as every Swift process maps them.
    case cFork(swiftRuntime: Bool)
}

struct ServerSpec {
    let name: String
    let kind: ServerKind
    let unix: Bool
    /// socketserverd only: lines added to `[daemon]` and to the echo service (`access_log =
    /// $DIR/access.log`, `per_source = 1000`); `$DIR` is the server's scratch directory, and
    /// `$METRICS_PORT` a free port.
    var daemonKeys: [String] = []
    var serviceKeys: [String] = []
    /// socketserverd only: the echo service's handler, `ev.echo` from the example event plugin
    /// (Sources/Examples/plugins/events.c, which the run compiles) instead of the built-in `echo`.
    var pluginEcho = false

    /// Names of the rows this row's targets compare it with: they run whenever it runs.
    var peers: [String] = []

    /// socketserverd serving a built-in handler (the rows the targets table checks).
    var isDaemon: Bool {
        switch kind {
        case .daemon, .exec: return true
        default: return false
        }
    }
    var isProgram: Bool { if case .program = kind { return true } else { return false } }
    var isReference: Bool { kind == .cReference }
}

/// Paths the run needs: built binaries, the checkout's peer scripts, a scratch directory.
struct BenchContext {
    let benchBinary: String
    let daemonBinary: String
    let checkout: String
    let scratch: String
    var cBinary = ""
    var cForkBinary = ""
    /// c_fork_echo linked with the Swift runtime (nil: it could not be linked).
    var cForkRuntimeBinary: String? = nil
    /// The programs of the exec peers found or installed (ExecPeers.swift); a missing one's row is skipped.
    var execPeers: [ExecPeer: String] = [:]
    /// The example event plugin, compiled with -O2 (libevents.so).
    var eventPlugin = ""
    var python = "python3"
}

/// A started server: its process (group), address and what was measured at start.
final class RunningServer {
    let spec: ServerSpec
    let pid: pid_t
    let endpoint: Endpoint
    let logPath: String
    let configPath: String?
    let notify: NotifySocket?
    let spawnedAt: UInt64
    /// Milliseconds from spawn to READY=1 (socketserverd only).
    private(set) var readyAfter: Double? = nil
    /// Milliseconds from spawn to the first echo round trip that succeeded.
    private(set) var firstRequestAfter: Double? = nil
    /// socketserverd's generation: 1 at start, moved on by each reload or upgrade measured.
    var generation = 1
    private var exited = false

    static func daemonConfig(concurrency: String, listen: String, logLevel: String,
                             daemonKeys: [String] = [], serviceKeys: [String] = [], eventPlugin: String? = nil) -> String {
        // A [plugin] section goes after [daemon]'s keys, before the service.
        let plugin = eventPlugin.map { ["", "[plugin ev]", "path = \($0)"] } ?? []
        return configText("the echo service with the default worker count (one per CPU)", logLevel: logLevel,
                          daemon: daemonKeys + plugin,
                          service: ["listen = \(listen)", "handler = \(eventPlugin == nil ? "echo" : "ev.echo")",
                                    "concurrency = \(concurrency)"] + serviceKeys)
    }

    static func programConfig(_ peer: ProgramPeer, listen: String, context: BenchContext, logLevel: String) -> String {
        var keys = ["listen = \(listen)", "handler = program", "workers = 2"]
        switch peer {
        case .python:
            keys += ["command = \(context.python) \(context.checkout)/Tests/Benchmarks/python_program_echo.py", "ready = notify",
                     "environment = PYTHONPATH=\(context.checkout)/Sources/python"]
        case .c:
            keys += ["command = \(context.cBinary) fd 3 1"]
        }
        return configText("the echo as two program workers", logLevel: logLevel, service: keys)
    }

    static func execConfig(listen: String, logLevel: String) -> String {
        configText("/bin/cat per connection, two workers", logLevel: logLevel,
                   service: ["listen = \(listen)", "handler = exec", "command = /bin/cat", "workers = 2"])
    }

    /// A config of one [service echo] with `service`'s keys, under the benchmark's [daemon] keys and `daemon`.
    private static func configText(_ what: String, logLevel: String, daemon: [String] = [], service: [String]) -> String {
        (["; written by socketserverd-bench: \(what)", "[daemon]", "graceful_timeout = 5", "log_level = \(logLevel)"] + daemon
          + ["", "[service echo]"] + service).joined(separator: "\n") + "\n"
    }

    /// Starts `spec` in its own directory under the scratch directory, and waits until it serves.
    init(starting spec: ServerSpec, context: BenchContext, tag: String, logLevel: String = "info") throws {
        let directory = context.scratch + "/" + tag
        // Writable by nobody else: the daemon refuses a config in a directory group or others can change.
        mkdir(directory, 0o755)
        chmod(directory, 0o755)
        self.spec = spec
        logPath = directory + "/server.log"
        endpoint = spec.unix ? .unix(path: directory + "/echo.sock") : .tcp(port: freePort())
        var configPath: String? = nil
        var notify: NotifySocket? = nil
        switch spec.kind {
        case .daemon, .program, .exec:
            let listen: String
            switch endpoint {
            case .tcp(let port): listen = "tcp://127.0.0.1:\(port)"
            case .unix(let path): listen = "unix:\(path)"
            }
            let path = directory + "/socketserverd.conf"
            let metricsPort = spec.daemonKeys.contains { $0.contains("$METRICS_PORT") } ? freePort() : 0
            let expand = { (line: String) in
                line.replacing("$DIR", with: directory).replacing("$METRICS_PORT", with: "\(metricsPort)")
            }
            let config: String
            switch spec.kind {
            case .program(let peer): config = Self.programConfig(peer, listen: listen, context: context, logLevel: logLevel)
            case .exec: config = Self.execConfig(listen: listen, logLevel: logLevel)
            case .daemon(let concurrency):
                config = Self.daemonConfig(concurrency: concurrency, listen: listen, logLevel: logLevel,
                                           daemonKeys: spec.daemonKeys.map(expand), serviceKeys: spec.serviceKeys.map(expand),
                                           eventPlugin: spec.pluginEcho ? context.eventPlugin : nil)
            default: config = ""
            }
            try writeFile(path, config)
            configPath = path
            let socket = try NotifySocket(path: directory + "/notify.sock")
            notify = socket
            spawnedAt = monotonicNanoseconds()
            pid = try spawn(context.daemonBinary, ["--config", path],
                            environment: childEnvironment(adding: ["NOTIFY_SOCKET=\(socket.path)"]),
                            stdoutPath: logPath, stderrPath: logPath)
        case .pythonForking, .pythonThreading:
            guard case .tcp(let port) = endpoint else { throw BenchError("the Python peers serve TCP only") }
            let script = context.checkout + "/Tests/Benchmarks/"
                + (spec.kind == .pythonForking ? "python_forking_echo.py" : "python_threading_echo.py")
            spawnedAt = monotonicNanoseconds()
            pid = try spawn(context.python, [script, "\(port)"], environment: childEnvironment(),
                            stdoutPath: logPath, stderrPath: logPath, searchPath: true)
        case .cReference, .cFork:
            let arguments: [String]
            switch endpoint {
            case .tcp(let port): arguments = ["tcp", "\(port)", "2"]
            case .unix(let path): arguments = ["unix", path, "2"]
            }
            var binary = context.cBinary
            if case .cFork(let runtime) = spec.kind {
                guard let chosen = runtime ? context.cForkRuntimeBinary : context.cForkBinary else {
                    throw BenchError("c_fork_echo.c could not be linked with the Swift runtime")
                }
                binary = chosen
            }
            spawnedAt = monotonicNanoseconds()
            pid = try spawn(binary, arguments, environment: childEnvironment(), stdoutPath: logPath, stderrPath: logPath)
        case .execPeer(let peer):
            guard case .tcp(let port) = endpoint else { throw BenchError("the exec peers serve TCP only") }
            guard let program = context.execPeers[peer] else { throw BenchError("\(peer.package) is not installed") }
            let arguments = try peer.arguments(program: program, port: port, directory: directory)
            spawnedAt = monotonicNanoseconds()
            pid = try spawn(arguments[0], Array(arguments.dropFirst()), environment: childEnvironment(),
                            stdoutPath: logPath, stderrPath: logPath)
        }
        self.configPath = configPath
        self.notify = notify
        do {
            try waitUntilServing()
        } catch {
            stop()
            throw error
        }
    }

    /// Probes with echo round trips (every half millisecond) until one succeeds; notes READY=1 on the way.
    private func waitUntilServing(timeout: Double = 15) throws {
        let deadline = spawnedAt + UInt64(timeout * 1e9)
        while monotonicNanoseconds() < deadline {
            checkReady()
            if firstRequestAfter == nil, echoRoundTrip(endpoint, timeout: 0.5) {
                firstRequestAfter = Double(monotonicNanoseconds() - spawnedAt) / 1e6
            }
            if firstRequestAfter != nil && (notify == nil || readyAfter != nil) { return }
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid {
                exited = true
                throw BenchError("\(spec.name) exited (status \(status)) before serving; log:\n\(readFile(logPath) ?? "")")
            }
            usleep(500)
        }
        throw BenchError("\(spec.name) did not serve within \(timeout) s; log:\n\(readFile(logPath) ?? "")")
    }

    private func checkReady() {
        guard readyAfter == nil, let notify else { return }
        for message in notify.drain() where message.split(separator: "\n").contains("READY=1") {
            readyAfter = Double(monotonicNanoseconds() - spawnedAt) / 1e6
            return
        }
    }

    /// The processes whose RSS is reported: the master (socketserverd, the Python server) and the
    /// workers (socketserverd's children, both processes of the C reference). Request children of
    /// forking servers come and go and are not listed.
    func memory() -> (master: Int?, workers: [Int]) {
        let (master, workers) = measuredProcesses()
        return (master.flatMap { residentKiB($0)?.rss }, workers.compactMap { residentKiB($0)?.rss })
    }

    /// PSS and USS (KiB) of the same processes as `memory()`.
    func proportionalMemory() -> (master: (pss: Int, uss: Int)?, workers: [(pss: Int, uss: Int)]) {
        let (master, workers) = measuredProcesses()
        return (master.flatMap(proportionalKiB), workers.compactMap(proportionalKiB))
    }

    private func measuredProcesses() -> (master: pid_t?, workers: [pid_t]) {
        switch spec.kind {
        case .daemon, .program, .exec: return (pid, children(of: pid))
        case .pythonForking, .pythonThreading, .execPeer: return (pid, [])
        case .cReference: return (nil, [pid] + children(of: pid))
        case .cFork: return (nil, [pid])  // its second acceptor is not told from its request children
        }
    }

    /// Worker pids (socketserverd: the master's children).
    var workerPIDs: [pid_t] { children(of: pid) }

    func cpuSeconds() -> Double { treeCPUSeconds(pid) }

    /// Stops the server and everything it started: socketserverd fast (SIGINT: the master interrupts
    /// its workers), the others with SIGTERM; whatever is left after 3 s is killed.
    func stop() {
        if !exited {
            let tree = processTree(pid).map(\.pid)
            let daemon = spec.isDaemon || spec.isProgram
            kill(pid, daemon ? SIGINT : SIGTERM)
            if !daemon { kill(-pid, SIGTERM) }
            let deadline = monotonicNanoseconds() + 3_000_000_000
            var status: Int32 = 0
            while monotonicNanoseconds() < deadline {
                if waitpid(pid, &status, WNOHANG) == pid { exited = true; break }
                usleep(2000)
            }
            if !exited {
                kill(-pid, SIGKILL)
                kill(pid, SIGKILL)
                waitpid(pid, &status, 0)
                exited = true
            }
            // Workers (own process groups) and request children must not outlive the row.
            for other in tree where other != pid && kill(other, 0) == 0 {
                let gone = monotonicNanoseconds() + 2_000_000_000
                while kill(other, 0) == 0 && monotonicNanoseconds() < gone {
                    reapExited()
                    usleep(2000)
                }
                if kill(other, 0) == 0 { kill(other, SIGKILL) }
            }
            reapExited()
        }
        if case .unix(let path) = endpoint { unlink(path) }
    }
}
