// The seed's FTP-style upload server on ThreadingTCPServer: a 4-byte little-endian header length,
// a JSON header {"cmd": "put", "filename": …, "filesize": …}, then the file's bytes; several
// commands per connection. Clients in Swift and in Python.
import Foundation
import Glibc
import SocketServer
import SocketServerTestSupport
import XCTest

final class UploadServer: ThreadingTCPServer, @unchecked Sendable {
    var directory = ""
    let stored = Locked<[String]>([])
    let errors = Locked<[String]>([])

    override func handleError(_ error: any Error, request: Request) {
        errors.update { $0.append("\(error)") }
    }
}

struct UploadError: Error, CustomStringConvertible {
    let description: String
}

/// The seed's FtpServer.handle/put, reading exactly what each part needs through `rfile`.
final class SeedUploadHandler: StreamRequestHandler {
    static let maxPacketSize = 1024
    override var timeout: Duration? { ioTimeout }

    override func handle() throws {
        let server = server as! UploadServer
        while true {
            let prefix = try rfile.read(4)
            if prefix.isEmpty { return }  // the client is done
            guard prefix.count == 4 else { throw UploadError(description: "truncated header length") }
            let length = prefix.reversed().reduce(0) { $0 << 8 | Int($1) }
            let header = try JSONSerialization.jsonObject(with: Data(try rfile.read(length))) as? [String: Any]
            guard let header, header["cmd"] as? String == "put", let filename = header["filename"] as? String,
                  let filesize = header["filesize"] as? Int, filesize >= 0 else {
                throw UploadError(description: "bad header")
            }
            // Only the last path component: a client must not write outside the upload directory.
            let name = filename.split(separator: "/").last.map(String.init) ?? ""
            guard !name.isEmpty, name != ".", name != ".." else { throw UploadError(description: "bad file name") }
            try put(into: server.directory + "/" + name, size: filesize)
            server.stored.update { $0.append("\(name) \(filesize)") }
        }
    }

    private func put(into path: String, size: Int) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw SocketError.system(call: "open \(path)", errno: errno) }
        defer { close(fd) }
        var received = 0
        while received < size {
            let chunk = try rfile.read(min(Self.maxPacketSize, size - received))
            if chunk.isEmpty { throw UploadError(description: "connection closed after \(received) of \(size) bytes") }
            guard chunk.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) == chunk.count else {
                throw SocketError.system(call: "write", errno: errno)
            }
            received += chunk.count
        }
    }
}

/// One put command as the seed's client sends it.
func putCommand(filename: String, contents: [UInt8]) throws -> [UInt8] {
    let header = try JSONSerialization.data(withJSONObject: ["cmd": "put", "filename": filename, "filesize": contents.count])
    let length = UInt32(header.count)
    return [UInt8(length & 0xff), UInt8(length >> 8 & 0xff), UInt8(length >> 16 & 0xff), UInt8(length >> 24)]
        + Array(header) + contents
}

final class UploadProtocolTests: XCTestCase {
    private var uploads: TemporaryDirectory!
    private var server: UploadServer!
    private var background: BackgroundServer!

    override func setUpWithError() throws {
        uploads = try TemporaryDirectory()
        server = try UploadServer(("127.0.0.1", 0), SeedUploadHandler.self)
        server.directory = uploads.path
        background = try BackgroundServer(server)
    }

    override func tearDown() {
        background.stop()
        background = nil
        server = nil
        uploads = nil
    }

    private func contents(of name: String) -> [UInt8]? {
        FileManager.default.contents(atPath: uploads.file(name)).map { Array($0) }
    }

    private func upload(_ commands: [UInt8]) throws {
        let client = try connectClient(server.serverAddress)
        defer { client.close() }
        try client.sendAll(commands)
        try client.shutdown(.write)
        XCTAssertEqual(try readAll(client), [], "the protocol has no replies; the server closes when done")
    }

    func testTwoFilesOverOneConnection() throws {
        let first = Array("first file\n".utf8)
        let second = Array(repeating: UInt8(ascii: "z"), count: 3000)
        try upload(try putCommand(filename: "a.txt", contents: first) + putCommand(filename: "b.bin", contents: second))
        XCTAssertEqual(server.stored.value, ["a.txt 11", "b.bin 3000"])
        XCTAssertEqual(contents(of: "a.txt"), first)
        XCTAssertEqual(contents(of: "b.bin"), second)
        XCTAssertEqual(server.errors.value, [])
    }

    func testLargeFileAndEmptyFile() throws {
        let big = (0..<(1 << 20) + 17).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        try upload(try putCommand(filename: "big.bin", contents: big) + putCommand(filename: "empty", contents: []))
        XCTAssertEqual(contents(of: "big.bin"), big)
        XCTAssertEqual(contents(of: "empty"), [])
    }

    func testFilenameCannotEscapeTheUploadDirectory() throws {
        try upload(try putCommand(filename: "../../escape.txt", contents: Array("x".utf8)))
        XCTAssertEqual(contents(of: "escape.txt"), Array("x".utf8))
        XCTAssertFalse(fileExists(uploads.path + "/../escape.txt"))
    }

    func testMalformedHeaderIsReportedAndTheServerGoesOn() throws {
        try upload([5, 0, 0, 0] + Array("nope!".utf8))
        XCTAssertEqual(server.errors.value.count, 1, "\(server.errors.value)")
        try upload(try putCommand(filename: "after.txt", contents: Array("ok".utf8)))
        XCTAssertEqual(contents(of: "after.txt"), Array("ok".utf8))
    }

    func testTruncatedUploadIsAnError() throws {
        var command = try putCommand(filename: "cut.bin", contents: Array(repeating: 1, count: 100))
        command.removeLast(40)
        try upload(command)
        XCTAssertEqual(server.errors.value, ["connection closed after 60 of 100 bytes"])
    }

    func testPythonClientUploads() throws {
        let source = uploads.file("source.dat")
        let payload = (0..<50_000).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ 5) }
        XCTAssertTrue(FileManager.default.createFile(atPath: source, contents: Data(payload)))
        let script = """
        import json, os, socket, struct, sys
        host, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
        with socket.create_connection((host, port), timeout=10) as s:
            for name in ("copy1.dat", "copy2.dat"):
                head = json.dumps({"cmd": "put", "filename": name, "filesize": os.path.getsize(path)}).encode()
                s.sendall(struct.pack("<i", len(head)))
                s.sendall(head)
                with open(path, "rb") as f:
                    s.sendfile(f)
            s.shutdown(socket.SHUT_WR)
            assert s.recv(1) == b""
        print("uploaded")
        """
        let address = server.serverAddress
        let result = try runPython(script, [address.host, "\(address.port!)", source])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(result.stdout, "uploaded\n")
        XCTAssertEqual(contents(of: "copy1.dat"), payload)
        XCTAssertEqual(contents(of: "copy2.dat"), payload)
    }
}
