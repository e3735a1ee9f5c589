// One access log line, in logfmt: `ts=… service=echo client=127.0.0.1:50312 worker=4242
// duration=0.012 bytes_in=16 bytes_out=16 result=ok`.

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
    var service: String
    var client: String
    var worker: Int32
    var durationNanoseconds: UInt64
    var bytesIn: UInt64
    var bytesOut: UInt64
    var result: AccessResult

    /// The line, with its newline; `ts` is now (UTC, milliseconds).
    var text: String {
        "ts=\(Logger.timestamp()) service=\(Self.value(service)) client=\(Self.value(client)) worker=\(worker) "
            + "duration=\(Self.seconds(durationNanoseconds)) bytes_in=\(bytesIn) bytes_out=\(bytesOut) result=\(result)\n"
    }

    /// Seconds with three decimals: `0.012`.
    static func seconds(_ nanoseconds: UInt64) -> String {
        let milliseconds = (nanoseconds + 500_000) / 1_000_000
        let fraction = String(milliseconds % 1000)
        return "\(milliseconds / 1000)." + String(repeating: "0", count: 3 - fraction.count) + fraction
    }

    /// A logfmt value: as is, or quoted (with `\"` and `\\`) when empty or holding a space, `=`,
    /// a quote or a control character.
    static func value(_ text: String) -> String {
        let plain = !text.isEmpty && text.utf8.allSatisfy { $0 > 0x20 && $0 != 0x7f && $0 != UInt8(ascii: "=") && $0 != UInt8(ascii: "\"") }
        guard !plain else { return text }
        var quoted = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": quoted += "\\\""
            case "\\": quoted += "\\\\"
            case "\n": quoted += "\\n"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7f {
                    quoted += "\\u{\(String(scalar.value, radix: 16))}"
                } else {
                    quoted.unicodeScalars.append(scalar)
                }
            }
        }
        return quoted + "\""
    }
}
