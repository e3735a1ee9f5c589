// The systemd side of sd_notify: a datagram socket the daemon sends READY=1, STATUS=… and the
// rest to, read by the test the way systemd reads it.
import Glibc
import SocketServer

/// Receives sd_notify datagrams.
public final class NotifyListener {
    /// A path, or `@name` for Linux's abstract namespace (as systemd may use).
    public let path: String
    let socket: Socket

    public init(path: String) throws {
        self.path = path
        socket = try Socket(family: .unix, type: .datagram)
        if path.hasPrefix("@") {
            try socket.bind(.unix(path: "\0" + path.dropFirst()))
        } else {
            unlink(path)
            try socket.bind(.unix(path: path))
            chmod(path, 0o666)  // a daemon started as root sends READY after becoming "nobody"
        }
    }

    /// What NOTIFY_SOCKET says.
    public var displayPath: String { path }

    deinit {
        socket.close()
        if !path.hasPrefix("@") { unlink(path) }
    }

    /// The next datagram, or nil if none came within `timeout` (`.zero`: only one already queued).
    public func receive(timeout: Duration) -> String? {
        try? socket.setTimeout(max(timeout, .zero))
        guard let (data, _) = try? socket.recvFrom(4096) else { return nil }
        return String(decoding: data, as: UTF8.self)
    }
}
