// The upload protocol from the client's side: frames (a 4-byte little-endian header length, the
// JSON header, the content) and one upload over a new connection.
import Foundation
import SocketServer

/// JSON text for a string, escaping quotes, backslashes and control characters.
public func jsonString(_ text: String) -> String {
    var out = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case _ where scalar.value < 0x20: out += "\\u" + String(format: "%04x", scalar.value)
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out + "\""
}

/// One upload frame: 4-byte little-endian length, the header bytes, then the content.
public func uploadFrame(header: [UInt8], content: [UInt8] = []) -> [UInt8] {
    let length = UInt32(header.count)
    return [UInt8(length & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length >> 16 & 0xFF), UInt8(length >> 24)] + header + content
}

/// The header of a `put` for `name`; `filesize` is raw JSON (a number, or anything to refuse).
public func putHeader(_ name: String, filesize: String) -> [UInt8] {
    Array("{\"cmd\": \"put\", \"filename\": \(jsonString(name)), \"filesize\": \(filesize)}".utf8)
}

/// A `put` frame for `name` with `content`; `filesize` overrides the declared size (as raw JSON).
public func putFrame(_ name: String, _ content: [UInt8], filesize: String? = nil) -> [UInt8] {
    uploadFrame(header: putHeader(name, filesize: filesize ?? String(content.count)), content: content)
}

/// Uploads `content` as `name` to 127.0.0.1:`port` and returns the server's reply ("OK …" or
/// "ERR …"). The content goes after the header in its own send: a server may answer ERR before
/// reading it, and a refused rest is no failure.
public func upload(port: Int, name: String, content: [UInt8] = [65], timeout: Duration = ioTimeout) throws -> String {
    let socket = try connectTCP(port: port, timeout: timeout)
    defer { socket.close() }
    try socket.sendAll(uploadFrame(header: putHeader(name, filesize: String(content.count))))
    try? socket.sendAll(content)
    return String(decoding: try socket.recv(300), as: UTF8.self)
}

/// The first word of an upload's reply: "OK" or "ERR".
public func uploadRoundTrip(port: Int, name: String, content: [UInt8] = [65]) throws -> String {
    try upload(port: port, name: name, content: content).split(separator: " ").first.map(String.init) ?? ""
}
