// The example plugin (libgreet.so): handler `hello` greets each line (stream) or datagram by name,
// under any concurrency (`events` too).
//
//     [plugin greet]
//     path = libgreet.so
//     [service hello]
//     listen = tcp://127.0.0.1:7011
//     handler = greet.hello
//     greeting = hi there        ; default "hello"
//     max_name = 64              ; longest name greeted, 1-4096 (default 64)
import SocketServerPlugin

/// Answers every line "NAME" with "GREETING, NAME!".
final class HelloStream: PluginStreamHandler {
    override class var keys: [PluginKey] { Greeting.keys }
    override class func validate(key: String, value: String) -> String? { Greeting.validate(key: key, value: value) }

    override func handle() throws {
        let greeting = Greeting(self)
        for line in rfile {
            try wfile.write(greeting.reply(to: line) + "\n")
        }
    }
}

/// Answers a datagram "NAME" with "GREETING, NAME!".
final class HelloDatagram: PluginDatagramHandler {
    override class var keys: [PluginKey] { Greeting.keys }
    override class func validate(key: String, value: String) -> String? { Greeting.validate(key: key, value: value) }

    override func handle() throws {
        try wfile.write(Greeting(self).reply(to: packet))
    }
}

/// The same, event by event (`concurrency = events`): a line may arrive in pieces, so what has
/// come of the next one waits in `pending`, this connection's own state.
final class HelloEvents: PluginEventHandler {
    override class var keys: [PluginKey] { Greeting.keys }
    override class func validate(key: String, value: String) -> String? { Greeting.validate(key: key, value: value) }

    private lazy var greeting = Greeting(self)
    private var pending: [UInt8] = []

    override func received(_ bytes: UnsafeRawBufferPointer, output: PluginOutput) throws -> Bool {
        pending.append(contentsOf: bytes)
        while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
            try output.write(greeting.reply(to: Array(pending[..<newline])) + "\n")
            pending.removeSubrange(...newline)
        }
        guard pending.count <= 64 * 1024 else { throw PluginError("a line longer than 64 KiB") }
        return true
    }
}

/// The handler's settings and its one piece of logic, shared by all kinds.
struct Greeting {
    static let keys = [PluginKey("greeting", default: "hello"), PluginKey("max_name", default: "64")]

    static func validate(key: String, value: String) -> String? {
        switch key {
        case "greeting":
            return value.isEmpty ? "greeting must not be empty" : nil
        case "max_name":
            guard let number = Int(value), (1...4096).contains(number) else {
                return "must be an integer from 1 to 4096, got '\(value)'"
            }
            return nil
        default:
            return nil
        }
    }

    let greeting: String
    let maxName: Int

    init(_ handler: PluginHandlerBase) {
        greeting = handler.config("greeting") ?? "hello"
        maxName = Int(handler.config("max_name") ?? "") ?? 64
    }

    func reply(to bytes: [UInt8]) -> String {
        var name = String(decoding: bytes.prefix(maxName), as: UTF8.self)
        while let last = name.last, last.isWhitespace { name.removeLast() }
        return "\(greeting), \(name.isEmpty ? "stranger" : name)!"
    }
}

/// The entry the daemon looks up: one registration line.
@_cdecl("socketserverd_plugin_entry")
public func socketserverdPluginEntry() -> UnsafeRawPointer {
    exportPlugin("greet", [.handler("hello", stream: HelloStream.self, datagram: HelloDatagram.self, events: HelloEvents.self)])
}
