// The catalogue of built-in handlers the daemon can serve with `handler = NAME`.
import SocketServer

/// The built-in handlers, by name: `echo`, `discard`, `daytime`, `upper` (stream and datagram),
/// `upload` (stream only; keys `directory`, `max_size`), `exec` (stream and datagram; keys
/// `command`, `directory`) and `program` (every listener: the master runs a long-lived program as
/// each worker; keys in `ProgramSettings`). `upload` and `exec` take their settings from a value
/// (`UploadStreamHandler.Settings`, `ExecSettings`) that `settings` builds from the configuration.
/// `echo`, `discard`, `daytime` and `upper` also have event-driven variants (`events`) for
/// `concurrency = events`.
///
/// The daemon looks a service's `handler =` up with `named(_:)`, picks `stream` or `datagram` by its
/// listener, rejects keys not in `keys`, fills in the defaults, and reports what `validate` returns.
public enum BuiltinHandlers {
    // One row per handler: its name, its handler types, and any config keys with their check.
    public static let echo = HandlerDescriptor(name: "echo", stream: EchoStreamHandler.self, datagram: EchoDatagramHandler.self, events: EchoEventHandler.self)
    public static let discard = HandlerDescriptor(name: "discard", stream: DiscardStreamHandler.self, datagram: DiscardDatagramHandler.self, events: DiscardEventHandler.self)
    public static let daytime = HandlerDescriptor(name: "daytime", stream: DaytimeStreamHandler.self, datagram: DaytimeDatagramHandler.self, events: DaytimeEventHandler.self)
    public static let upper = HandlerDescriptor(name: "upper", stream: UpperStreamHandler.self, datagram: UpperDatagramHandler.self, events: UpperEventHandler.self)
    public static let upload = HandlerDescriptor(
        name: "upload", stream: UploadStreamHandler.self, datagram: nil,
        keys: UploadStreamHandler.keys, keyDocs: UploadStreamHandler.keyDocs, validate: { UploadStreamHandler.validate($0) },
        settings: { try UploadStreamHandler.Settings($0) })
    public static let exec = HandlerDescriptor(
        name: "exec", stream: ExecStreamHandler.self, datagram: ExecDatagramHandler.self,
        keys: ExecRunner.keys, keyDocs: ExecRunner.keyDocs, validate: { ExecRunner.validate($0) },
        settings: { try ExecSettings($0) })
    public static let program = HandlerDescriptor(
        name: "program", stream: nil, datagram: nil,
        keys: ProgramSettings.keys, keyDocs: ProgramSettings.keyDocs, validate: { ProgramSettings.validate($0) }, runsProgram: true)

    /// Every built-in handler, in a stable order.
    public static let all: [HandlerDescriptor] = [echo, discard, daytime, upper, upload, exec, program]

    /// Every built-in handler's name, in the order of `all`.
    public static var names: [String] { all.map(\.name) }

    /// The built-in handler called `name` (exact, case-sensitive), or nil.
    public static func named(_ name: String) -> HandlerDescriptor? {
        all.first { $0.name == name }
    }
}
