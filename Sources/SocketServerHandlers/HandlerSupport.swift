// Small helpers the built-in handlers share: logging through the host, byte transforms, replies.
#if canImport(Glibc)
import Glibc
#endif
import SocketServer

/// The buffer size the stream handlers read with; one buffer per connection, reused for every read.
let streamChunkSize = 16 * 1024

extension BaseRequestHandler {
    /// Logs through the host, prefixed with the client; without a host, writes the line to stderr.
    func log(_ level: LogLevel, _ message: String) {
        logLine(message, withoutHost: level) { host, line in host.log(level, line) }
    }

    /// Logs why this request failed through the host (which may rate-limit it), prefixed with
    /// the client; without a host, writes the line to stderr.
    func logProblem(_ problem: RequestProblem, _ message: String) {
        logLine(message, withoutHost: .error) { host, line in host.logProblem(problem, line) }
    }

    /// `message` prefixed with the client, given to `write` with the host; without a host, written
    /// to stderr with the level `withoutHost`.
    private func logLine(_ message: String, withoutHost level: LogLevel, _ write: (HandlerHost, String) -> Void) {
        let line = "\(clientAddress): \(message)"
        if let host {
            write(host, line)
        } else {
            writeStandardError("\(level): \(line)")
        }
    }

    /// True when a datagram can be answered: an unbound Unix datagram client has no address.
    var clientCanReceiveReplies: Bool {
        if case .unix(let path) = clientAddress, path.isEmpty { return false }
        return true
    }
}

/// ASCII upper-casing in place: `a`…`z` become `A`…`Z`, every other byte is left alone.
@inline(__always)
func asciiUppercase(_ bytes: UnsafeMutableRawBufferPointer) {
    for index in bytes.indices {
        let byte = bytes[index]
        if byte &- UInt8(ascii: "a") < 26 { bytes[index] = byte &- 0x20 }
    }
}

/// `strerror` as a Swift string.
func errorText(_ code: Int32) -> String {
    Errno(rawValue: code).description
}
