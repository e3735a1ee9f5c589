// The seeds' upload protocol through the daemon, from a Python client as the seed wrote it.
import Foundation
import XCTest

final class UploadServiceTests: DaemonTestCase {
    func testPythonClientUploadsAndHostileNamesAreRefused() throws {
        let port = freePort()
        let uploads = directory + "/uploads"
        try FileManager.default.createDirectory(atPath: uploads, withIntermediateDirectories: true)
        chmod(uploads, 0o777)
        _ = try startDaemon("""
            [service upload]
            listen = tcp://127.0.0.1:\(port)
            handler = upload
            directory = \(uploads)
            max_size = 1000
            workers = 1
            """)
        let script = """
            import json, socket, struct, sys
            def put(name, data, size=None):
                s = socket.create_connection(("127.0.0.1", \(port)), timeout=5)
                head = json.dumps({"cmd": "put", "filename": name, "filesize": len(data) if size is None else size}).encode()
                s.sendall(struct.pack("<i", len(head)) + head + data)
                reply = s.recv(200).decode()
                s.close()
                return reply.split(" ")[0].strip()
            print(put("hello.txt", b"hello world"))
            print(put("../escape.txt", b"x"))
            print(put("/etc/passwd", b"x"))
            print(put("big.bin", b"y" * 1001))
            """
        let out = directory + "/py.txt"
        let pid = try spawn("/usr/bin/python3", ["-c", script], env: ["PATH=/usr/bin:/bin"], stdout: out, stderr: out)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        let output = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
        XCTAssertEqual(status, 0, output)
        XCTAssertEqual(output.split(separator: "\n"), ["OK", "ERR", "ERR", "ERR"], output)
        XCTAssertEqual(try String(contentsOfFile: uploads + "/hello.txt", encoding: .utf8), "hello world")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: uploads), ["hello.txt"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory + "/escape.txt"))
    }
}
