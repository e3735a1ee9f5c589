// daytime (RFC 867): one line with the current date and time.
#if canImport(Glibc)
import Glibc
#endif
import SocketServer

/// The daytime line: `Monday, November 23, 2026 11:20:00-UTC\r\n`, in the process's local time
/// zone (`TZ`), formatted with `localtime_r` and `strftime` (C locale names).
public enum Daytime {
    /// The line for `time` (seconds since the epoch), or for now.
    public static func line(at time: time_t = Glibc.time(nil)) -> String {
        _ = timezoneLoaded
        var seconds = time
        var parts = tm()
        guard localtime_r(&seconds, &parts) != nil else { return "\(time)\r\n" }
        // The day of the month without padding, as RFC 867's example writes it.
        return format("%A, %B ", parts) + String(parts.tm_mday) + format(", %Y %H:%M:%S-%Z", parts) + "\r\n"
    }

    private static func format(_ pattern: String, _ parts: tm) -> String {
        var parts = parts
        var buffer = [CChar](repeating: 0, count: 128)
        let count = strftime(&buffer, buffer.count, pattern, &parts)
        return String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// `localtime_r` need not read `TZ` itself; `tzset` once per process does.
    private static let timezoneLoaded: Void = { tzset() }()
}

/// RFC 867 daytime over a stream: sends the daytime line and closes, without reading.
public final class DaytimeStreamHandler: BaseRequestHandler {
    override public func handle() throws {
        try request.sendAll(Daytime.line())
    }
}

/// RFC 867 daytime for an event loop (`EventLoopMixIn`): sends the line on connect and ends the
/// connection; what the client sends is ignored.
public final class DaytimeEventHandler: EventStreamHandler {
    public init(clientAddress: SocketAddress, server: BaseServer) {}

    public func connected(output: inout [UInt8]) throws -> Bool {
        output.append(contentsOf: Daytime.line().utf8)
        return false
    }

    public func received(_ bytes: UnsafeRawBufferPointer, output: inout [UInt8]) throws -> Bool { false }
}

/// RFC 867 daytime over datagrams: answers any datagram with the daytime line.
public final class DaytimeDatagramHandler: BaseRequestHandler {
    override public func handle() throws {
        guard clientCanReceiveReplies else { return }
        try request.sendTo(Array(Daytime.line().utf8), clientAddress)
    }
}
