// The little HTTP the metrics process speaks: one request per connection, `GET /metrics` (or
// HEAD) answered with the exposition, anything else with its error status; every answer closes.

enum MetricsHTTP {
    /// The longest request taken (request line and headers); a longer one is answered 431.
    static let maximumRequest = 8192
    /// The product in the `Server:` header; `--check-config` knows the running daemon's own
    /// metrics listener by it.
    static let serverProduct = "socketserverd"
    static let path = "/metrics"

    /// The answer to `request`, the bytes read so far, or nil while its header is incomplete.
    /// `body` renders the exposition; it is called only for a request that gets it.
    static func response(to request: [UInt8], body: () -> String) -> [UInt8]? {
        guard let end = headerEnd(request) else {
            return request.count >= maximumRequest ? answer(431, "Request Header Fields Too Large") : nil
        }
        guard end <= maximumRequest else { return answer(431, "Request Header Fields Too Large") }
        let firstLine = request.prefix { $0 != UInt8(ascii: "\n") }
        let line = String(decoding: firstLine.last == UInt8(ascii: "\r") ? firstLine.dropLast() : firstLine, as: UTF8.self)
        let parts = line.split(separator: " ", omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty, parts[1].hasPrefix("/") else { return answer(400, "Bad Request") }
        let (method, target, version) = (parts[0], parts[1], parts[2])
        guard version == "HTTP/1.0" || version == "HTTP/1.1" else {
            return version.hasPrefix("HTTP/") ? answer(505, "HTTP Version Not Supported") : answer(400, "Bad Request")
        }
        guard target.prefix(while: { $0 != "?" }) == path else { return answer(404, "Not Found") }
        switch method {
        case "GET": return answer(200, "OK", body: body(), contentType: PrometheusText.contentType)
        case "HEAD": return answer(200, "OK", body: body(), contentType: PrometheusText.contentType, headOnly: true)
        default: return answer(405, "Method Not Allowed", extra: ["Allow: GET, HEAD"])
        }
    }

    /// Where the header ends (just past its blank line, CRLF or bare LF), or nil.
    static func headerEnd(_ bytes: [UInt8]) -> Int? {
        let newline = UInt8(ascii: "\n"), cr = UInt8(ascii: "\r")
        var index = 0
        while let next = bytes[index...].firstIndex(of: newline) {
            let after = next + 1
            if after < bytes.count, bytes[after] == newline { return after + 1 }
            if after + 1 < bytes.count, bytes[after] == cr, bytes[after + 1] == newline { return after + 2 }
            index = after
        }
        return nil
    }

    /// A whole response: status line, headers, blank line, and the body (left out for HEAD).
    static func answer(_ status: Int, _ reason: String, body: String? = nil, contentType: String = "text/plain; charset=utf-8",
                       extra: [String] = [], headOnly: Bool = false) -> [UInt8] {
        let content = Array((body ?? "\(status) \(reason)\n").utf8)
        let headers = ["HTTP/1.1 \(status) \(reason)", "Content-Type: \(contentType)", "Content-Length: \(content.count)",
                       "Connection: close", "Server: \(serverProduct)/\(Daemon.version)"] + extra
        return Array((headers.joined(separator: "\r\n") + "\r\n\r\n").utf8) + (headOnly ? [] : content)
    }

    /// Whether `response` (at least its header) came from a socketserverd metrics process.
    static func isOwnResponse(_ response: [UInt8]) -> Bool {
        guard let end = headerEnd(response) else { return false }
        // Split as bytes: in a String, CR LF is one Character, and no "\n" would be found.
        let lines = response[..<end].split(separator: UInt8(ascii: "\n")).map { String(decoding: $0, as: UTF8.self).lowercased() }
        guard lines.first?.hasPrefix("http/1.") == true else { return false }
        return lines.dropFirst().contains { line in
            line.hasPrefix("server:") && line.dropFirst(7).drop(while: { $0 == " " }).hasPrefix(serverProduct + "/")
        }
    }
}
