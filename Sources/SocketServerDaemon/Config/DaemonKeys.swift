// The [daemon] keys: each row holds a key's parser, default, documentation and the DaemonConfig
// field it fills; the struct is here too, its fields starting from the rows' defaults.
import SocketServer

/// The `[daemon]` section and every `[service NAME]`, validated.
public struct DaemonConfig: Equatable, Sendable {
    /// The user and group to drop to when started as root (nil: `nobody`, the user's own group).
    public var user: String? = DaemonKeys.user.default
    public var group: String? = DaemonKeys.group.default
    public var pidFile: String? = DaemonKeys.pidFile.default
    /// How long old workers may take to finish on reload or stop.
    public var gracefulTimeout: Duration = DaemonKeys.gracefulTimeout.default
    public var logLevel: LogLevel = DaemonKeys.logLevel.default
    /// Where the log goes instead of stderr (appended; reopened on SIGUSR1 after rotation).
    public var logFile: String? = DaemonKeys.logFile.default
    /// Where workers write a line per connection (or datagram) when it ends.
    public var accessLog: AccessLogTarget = DaemonKeys.accessLog.default
    /// Where relative `[plugin] path`s are found (nil: `DaemonKeys.defaultPluginDirectory`).
    public var pluginDirectory: String? = DaemonKeys.pluginDirectory.default
    /// The Unix socket `status` and `scale` talk to the master on.
    public var controlSocket: ControlSocketSetting = DaemonKeys.controlSocket.default
    /// Where the metrics process serves `GET /metrics` (nil: no metrics listener).
    public var metrics: ListenAddress? = DaemonKeys.metrics.default
    /// The `[plugin NAME]` sections, in the order written.
    public var plugins: [PluginConfig] = []
    /// Services in the order they appear.
    public var services: [ServiceConfig] = []
    /// Every file read (the main file and its includes), for reload diagnostics.
    public var files: [String] = []

    public init() {}
}

enum DaemonKeys {
    /// The account workers run as when the daemon starts as root and `user` is not set.
    static let defaultUser = "nobody"
    /// Where relative plugin paths are found when `plugin_dir` is not set.
    static let defaultPluginDirectory = "/usr/lib/socketserverd/plugins"

    static let user = Setting<DaemonConfig, String?>(
        "user", .account(mustBeUser: true), default: nil, shown: .value(defaultUser), into: \.user,
        doc: "started as root: the account workers and all they start run as (not root); the master stays root")
    static let group = Setting<DaemonConfig, String?>(
        "group", .account(mustBeUser: false), default: nil, shown: .described("the user's primary group"),
        into: \.group,
        doc: "started as root: the group to run as, with user")
    static let pidFile = Setting<DaemonConfig, String?>(
        "pid_file", .optionalAbsolutePath, default: nil, shown: .described("none"), into: \.pidFile,
        doc: "an absolute path the master writes its pid to after start-up (removed at exit)")
    static let gracefulTimeout = Setting<DaemonConfig, Duration>(
        "graceful_timeout", .seconds, default: .seconds(30), into: \.gracefulTimeout,
        doc: "seconds old workers may take to finish their requests on reload and stop before they are killed")
    static let logLevel = Setting<DaemonConfig, LogLevel>(
        "log_level", .logLevel, default: .info, into: \.logLevel,
        doc: "debug, info, warning or error; debug logs every request with the worker's pid")
    static let logFile = Setting<DaemonConfig, String?>(
        "log_file", .optionalAbsolutePath, default: nil, shown: .described("standard error"), into: \.logFile,
        doc: "an absolute path the log is appended to; only the master opens it, SIGUSR1 reopens it")
    static let accessLog = Setting<DaemonConfig, AccessLogTarget>(
        "access_log", .accessLog, default: .off, into: \.accessLog,
        doc: "off, stderr or an absolute path: one logfmt line per connection (or datagram) when it ends; "
            + "only the master opens the file, SIGUSR1 reopens it")
    static let pluginDirectory = Setting<DaemonConfig, String?>(
        "plugin_dir", .optionalAbsolutePath, default: nil, shown: .value(defaultPluginDirectory),
        into: \.pluginDirectory,
        doc: "the absolute directory where relative [plugin] paths are found")
    static let controlSocket = Setting<DaemonConfig, ControlSocketSetting>(
        "control_socket", .controlSocket, default: .automatic,
        shown: .described("control.sock in $RUNTIME_DIRECTORY when set (the packaged unit sets it), otherwise off"),
        into: \.controlSocket,
        doc: "an absolute path (or off) for the Unix socket, mode 0660, that socketserverd status and scale talk to the master on")
    static let metrics = Setting<DaemonConfig, ListenAddress?>(
        "metrics", .metricsAddress, default: nil, shown: .value("off"), into: \.metrics,
        doc: "tcp://HOST:PORT or unix:/path where a process apart from the master serves GET /metrics "
            + "(Prometheus text), or off")
    /// Read where it stands by ConfigSources, which splices the files in; nothing reaches DaemonConfig.
    static let include = ConfigKey<DaemonConfig>.readFirst(
        "include", defaultValue: .described("none"),
        doc: "a path or glob of config files read where the line stands (also at the top of a file); may repeat")

    /// Every [daemon] key, in the order help lists them.
    static let rows: [ConfigKey<DaemonConfig>] = [
        user.row, group.row, pidFile.row, gracefulTimeout.row, logLevel.row, logFile.row, accessLog.row, pluginDirectory.row,
        controlSocket.row, metrics.row, include,
    ]

}

extension ValueKind where Value == ControlSocketSetting {
    /// `off`, or an absolute path short enough for a Unix socket address.
    static let controlSocket = ValueKind.single({ text, key, _ in
        if text == "off" { return .success(.off) }
        return ValueKinds.absolutePath(text, key).flatMap { path in
            guard path.utf8.count <= SocketAddress.maximumUnixPathLength else {
                return .failure(.init("\(key): \(SocketError.pathTooLong(path: path, maximum: SocketAddress.maximumUnixPathLength))"))
            }
            return .success(.path(path))
        }
    }, format: { setting in
        switch setting {
        case .automatic: return nil
        case .off: return "off"
        case .path(let path): return path
        }
    })
}

extension ValueKind where Value == ListenAddress? {
    /// `off` (nil), or a stream listener with a fixed port: tcp://HOST:PORT, tcp://[V6]:PORT or unix:/path.
    static let metricsAddress = ValueKind.single({ text, key, _ in
        if text == "off" { return .success(nil) }
        let address: ListenAddress
        do throws(ListenAddressParser.Failure) {
            address = try ListenAddressParser.parse(text)
        } catch {
            return .failure(.init("\(key): \(error.message)"))
        }
        switch address {
        case .tcp(let inet) where inet.port == 0:
            return .failure(.init("\(key) \(text): port 0 would be a different port at each start; name a fixed port"))
        case .tcp, .unix:
            return .success(address)
        case .udp, .unixgram:
            return .failure(.init("\(key) must be a stream listener, tcp://HOST:PORT or unix:/PATH, got \(ConfigText.quoted(text))"))
        }
    }, format: { $0?.description ?? "off" })
}

extension ValueKind where Value == String? {
    /// A user or group name: not empty; started as root, it must exist; a user must not be root.
    static func account(mustBeUser: Bool) -> ValueKind {
        ValueKind(parse: { name, key, context in
            guard !name.isEmpty else { return .failure(.init(list: [.init("\(key) is empty")])) }
            var problems: [ConfigValues.Problem] = []
            if mustBeUser {
                let account = Accounts.user(named: name)
                if context.forRoot, account == nil {
                    problems.append(.init("user \(ConfigText.quoted(name)) does not exist"))
                }
                // Workers, request children, exec programs and plugin checks run as this user: they
                // run code and data from outside, and the master alone keeps root.
                if account?.uid == 0 {
                    problems.append(.init("user \(ConfigText.quoted(name)) is root (uid 0); workers never run as root: "
                        + "name an unprivileged account (the default is \(DaemonKeys.defaultUser))"))
                }
            } else if context.forRoot, !Accounts.groupExists(name) {
                problems.append(.init("group \(ConfigText.quoted(name)) does not exist"))
            }
            return problems.isEmpty ? .success(name) : .failure(.init(list: problems))
        }, format: { $0 })
    }
}

extension ValueKind where Value == AccessLogTarget {
    /// `off`, `stderr` or an absolute path.
    static let accessLog = ValueKind.single({ text, key, _ in
        switch text {
        case "off": return .success(.off)
        case "stderr": return .success(.stderr)
        default:
            guard text.hasPrefix("/") else {
                return .failure(.init("\(key) must be off, stderr or an absolute path, got \(ConfigText.quoted(text))"))
            }
            return .success(.file(text))
        }
    }, format: { $0.description })
}
