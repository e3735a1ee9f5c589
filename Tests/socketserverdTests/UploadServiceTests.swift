// The seeds' upload protocol through the daemon, from a Python client as the seed wrote it.
import Foundation
import SocketServerTestSupport
import XCTest

final class UploadServiceTests: DaemonTestCase {
    func testPythonClientUploadsAndHostileNamesAreRefused() throws {
        let uploads = makeDirectory("uploads")
        let port = try startDaemon(service: Service("upload", ["directory": uploads, "max_size": 1000, "workers": 1])).port
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
        let result = try runProgram("/usr/bin/python3", ["-c", script])
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertEqual(result.output.split(separator: "\n"), ["OK", "ERR", "ERR", "ERR"], result.output)
        XCTAssertEqual(readFile(uploads + "/hello.txt"), "hello world")
        XCTAssertEqual(directoryEntries(uploads), ["hello.txt"])
        XCTAssertFalse(fileExists(directory + "/escape.txt"))
    }
}
