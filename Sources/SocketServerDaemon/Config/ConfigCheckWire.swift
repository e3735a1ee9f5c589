// What a config-checking child tells the master over a pipe: progress and the errors it found.
#if canImport(Glibc)
import Glibc
#endif
import SocketServer

/// One message from the checking child. Each is a tag byte and length-prefixed fields, so that no
/// text (paths, plugin messages) can break the framing.
enum ConfigCheckMessage: Equatable {
    /// Plugin code is about to run (`activity` says what) for the plugin declared at `location`.
    case busy(plugin: String, location: SourceLocation, activity: String)
    /// That plugin code returned.
    case idle
    /// One problem with the configuration.
    case error(ConfigError)
    /// The check finished; every error has been sent.
    case done

    func encoded() -> [UInt8] {
        var bytes: [UInt8] = []
        func field(_ text: String) {
            let utf8 = Array(text.utf8)
            withUnsafeBytes(of: UInt32(utf8.count).littleEndian) { bytes += $0 }
            bytes += utf8
        }
        switch self {
        case .busy(let plugin, let location, let activity):
            bytes.append(UInt8(ascii: "B"))
            [plugin, location.file, String(location.line), activity].forEach(field)
        case .idle:
            bytes.append(UInt8(ascii: "I"))
        case .error(let error):
            bytes.append(UInt8(ascii: "E"))
            [error.message, error.location?.file ?? "", error.location.map { String($0.line) } ?? ""].forEach(field)
        case .done:
            bytes.append(UInt8(ascii: "D"))
        }
        return bytes
    }

    /// Every complete message in `bytes`, in order (a truncated tail is ignored).
    static func decode(_ bytes: [UInt8]) -> [ConfigCheckMessage] {
        var messages: [ConfigCheckMessage] = []
        var index = 0
        func field() -> String? {
            guard index + 4 <= bytes.count else { return nil }
            let count = bytes[index..<index + 4].reversed().reduce(0) { $0 << 8 | Int($1) }
            guard count <= bytes.count - index - 4 else { return nil }
            defer { index += 4 + count }
            return String(decoding: bytes[index + 4..<index + 4 + count], as: UTF8.self)
        }
        while index < bytes.count {
            let tag = bytes[index]
            index += 1
            switch tag {
            case UInt8(ascii: "B"):
                guard let plugin = field(), let file = field(), let line = field().flatMap({ Int($0) }),
                      let activity = field() else { return messages }
                messages.append(.busy(plugin: plugin, location: SourceLocation(file: file, line: line), activity: activity))
            case UInt8(ascii: "I"):
                messages.append(.idle)
            case UInt8(ascii: "E"):
                guard let message = field(), let file = field(), let line = field() else { return messages }
                let location = Int(line).map { SourceLocation(file: file, line: $0) }
                messages.append(.error(ConfigError(message, at: location)))
            case UInt8(ascii: "D"):
                messages.append(.done)
            default:
                return messages
            }
        }
        return messages
    }

    /// Writes the message to `fd` in full (a pipe; short writes are retried).
    func write(to fd: Int32) {
        try? writeAll(fd, encoded())
    }
}
