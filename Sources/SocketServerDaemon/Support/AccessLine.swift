// One access log line, in logfmt: `ts=… service=echo client=127.0.0.1:50312 worker=4242
// duration=0.012 bytes_in=16 bytes_out=16 result=ok`, written straight into a byte buffer (a line
// per connection must cost little: no intermediate strings).
#if canImport(Glibc)
import Glibc
#endif
import SocketServer

/// How a connection (or datagram) ended, as the access log's `result` names it.
enum AccessResult: Equatable, Sendable, CustomStringConvertible {
    /// Served to the end.
    case ok
    /// Refused (closed unread, or the datagram dropped) for this reason.
    case refused(RefusalReason)
    /// The client stayed silent for `timeout`.
    case timeout
    /// The client reset the connection.
    case reset
    /// The handler failed.
    case error
    /// The process serving it died or was killed (request_timeout) before it ended.
    case killed

    var description: String {
        switch self {
        case .ok: return "ok"
        case .refused(let reason): return "refused:\(reason.rawValue)"
        case .timeout: return "timeout"
        case .reset: return "reset"
        case .error: return "error"
        case .killed: return "killed"
        }
    }
}

/// The fields of one line.
struct AccessLine {
    /// The client: its address, or its text as the scoreboard holds it.
    enum Client {
        case address(SocketAddress)
        case text(String)
    }

    var service: String
    var client: Client
    var worker: Int32
    var durationNanoseconds: UInt64
    var bytesIn: UInt64
    var bytesOut: UInt64
    var result: AccessResult

    /// Appends the line, with its newline, to `bytes`; `ts` is now (UTC, milliseconds).
    func write(into bytes: inout [UInt8]) {
        Self.key("ts=", &bytes)
        Self.timestamp(into: &bytes)
        Self.key(" service=", &bytes)
        Self.value(service, &bytes)
        Self.key(" client=", &bytes)
        switch client {
        case .address(.inet(let host, let port)) where Self.isPlain(host):
            bytes.append(contentsOf: host.utf8)
            bytes.append(UInt8(ascii: ":"))
            Self.digits(UInt64(port), &bytes)
        case .address(let address): Self.value(address.description, &bytes)
        case .text(let text): Self.value(text, &bytes)
        }
        Self.key(" worker=", &bytes)
        Self.digits(UInt64(max(0, worker)), &bytes)
        Self.key(" duration=", &bytes)
        Self.seconds(durationNanoseconds, &bytes)
        Self.key(" bytes_in=", &bytes)
        Self.digits(bytesIn, &bytes)
        Self.key(" bytes_out=", &bytes)
        Self.digits(bytesOut, &bytes)
        Self.key(" result=", &bytes)
        switch result {
        case .ok: Self.key("ok", &bytes)
        case .refused(let reason):
            Self.key("refused:", &bytes)
            bytes.append(contentsOf: reason.rawValue.utf8)
        default: bytes.append(contentsOf: result.description.utf8)
        }
        bytes.append(UInt8(ascii: "\n"))
    }

    /// The line as text (tests, and lines written one at a time).
    var text: String {
        var bytes: [UInt8] = []
        write(into: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func key(_ text: StaticString, _ bytes: inout [UInt8]) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    /// Decimal digits of `value`, at least `width` of them.
    static func digits(_ value: UInt64, width: Int = 1, _ bytes: inout [UInt8]) {
        var count = 1
        var power: UInt64 = 1
        while value / power >= 10 {
            power *= 10
            count += 1
        }
        for _ in count..<max(count, width) { bytes.append(UInt8(ascii: "0")) }
        while power > 0 {
            bytes.append(UInt8(ascii: "0") + UInt8(value / power % 10))
            power /= 10
        }
    }

    /// Seconds with three decimals: `0.012`.
    static func seconds(_ nanoseconds: UInt64, _ bytes: inout [UInt8]) {
        let milliseconds = (nanoseconds + 500_000) / 1_000_000
        digits(milliseconds / 1000, &bytes)
        bytes.append(UInt8(ascii: "."))
        digits(milliseconds % 1000, width: 3, &bytes)
    }

    static func seconds(_ nanoseconds: UInt64) -> String {
        var bytes: [UInt8] = []
        seconds(nanoseconds, &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// `2026-12-02T10:00:00.123Z`: now, UTC.
    static func timestamp(into bytes: inout [UInt8]) {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        timestamp(seconds: Int64(now.tv_sec), milliseconds: Int(now.tv_nsec / 1_000_000), into: &bytes)
    }

    /// The date and time of `seconds` since the epoch, UTC, computed here: glibc's gmtime_r takes
    /// the time zone lock on every call.
    static func timestamp(seconds: Int64, milliseconds: Int, into bytes: inout [UInt8]) {
        let (days, second) = (seconds.floorDivided(by: 86_400), seconds.floorModulo(86_400))
        // Days to a civil date (Howard Hinnant's algorithm): eras of 400 years from 0000-03-01.
        let shifted = days + 719_468
        let era = shifted.floorDivided(by: 146_097)
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        func field(_ value: Int64, _ width: Int, _ separator: Unicode.Scalar) {
            digits(UInt64(max(0, value)), width: width, &bytes)
            bytes.append(UInt8(ascii: separator))
        }
        field(year, 4, "-")
        field(month, 2, "-")
        field(day, 2, "T")
        field(second / 3600, 2, ":")
        field(second / 60 % 60, 2, ":")
        field(second % 60, 2, ".")
        digits(UInt64(milliseconds), width: 3, &bytes)
        bytes.append(UInt8(ascii: "Z"))
    }

    /// Whether a value goes in as is: not empty, and no space, `=`, quote or control character.
    static func isPlain(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.allSatisfy { $0 > 0x20 && $0 != 0x7f && $0 != UInt8(ascii: "=") && $0 != UInt8(ascii: "\"") }
    }

    /// A logfmt value: as is, or quoted (with `\"`, `\\` and `\n`; other control characters as
    /// `\u{…}`) when `isPlain` says no.
    static func value(_ text: String, _ bytes: inout [UInt8]) {
        guard !isPlain(text) else {
            bytes.append(contentsOf: text.utf8)
            return
        }
        bytes.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"): bytes.append(contentsOf: [UInt8(ascii: "\\"), byte])
            case UInt8(ascii: "\n"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case 0..<0x20, 0x7f: bytes.append(contentsOf: Array("\\u{\(String(byte, radix: 16))}".utf8))
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    static func value(_ text: String) -> String {
        var bytes: [UInt8] = []
        value(text, &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }
}

extension Int64 {
    /// Division rounding toward minus infinity (a time before 1970 still has its day).
    func floorDivided(by divisor: Int64) -> Int64 {
        let quotient = self / divisor
        return (self % divisor != 0 && (self < 0) != (divisor < 0)) ? quotient - 1 : quotient
    }

    func floorModulo(_ divisor: Int64) -> Int64 { self - floorDivided(by: divisor) * divisor }
}
