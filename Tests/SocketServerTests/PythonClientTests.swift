// Clients written in Python (CPython's own socket module) against each server kind: TCP, UDP, Unix
// stream and Unix datagram, so the wire behaviour is checked by a client nobody here wrote.
import Glibc
import SocketServer
import SocketServerTestSupport
import XCTest

/// StreamRequestHandler upper-casing each line, as Python's `for line in self.rfile` servers do.
final class UpperLinesHandler: StreamRequestHandler {
    override var timeout: Duration? { ioTimeout }
    override var disableNagleAlgorithm: Bool { true }

    override func handle() throws {
        for line in rfile { try wfile.write(String(decoding: line, as: UTF8.self).uppercased()) }
    }
}

final class PythonClientTests: XCTestCase {
    private func assertPython(
        _ script: String, _ arguments: [String], prints expected: String, file: StaticString = #filePath, line: UInt = #line
    ) throws {
        let result = try runPython(script, arguments)
        XCTAssertEqual(result.status, 0, "python failed: \(result.stderr)", file: file, line: line)
        XCTAssertEqual(result.stdout, expected, file: file, line: line)
    }

    func testPythonTCPClientsAgainstForkingAndPlainTCPServers() throws {
        let script = """
        import socket, sys
        host, port = sys.argv[1], int(sys.argv[2])
        socks = [socket.create_connection((host, port), timeout=10) for _ in range(int(sys.argv[3]))]
        for i, s in reversed(list(enumerate(socks))):
            s.sendall(b"hello from python %d\\n" % i)
            s.shutdown(socket.SHUT_WR)
        for s in socks:
            sys.stdout.write(s.makefile("rb").read().decode())  # to the end of the reply
            s.close()
        """
        // Several connections open at once need a concurrent server; one at a time suits any.
        let forking = try ForkingTCPServer(loopback4, EchoHandler.self)
        try withServing(forking) { server in
            let expected = (0..<3).map { "hello from python \($0)\n" }.joined()
            try assertPython(script, [server.serverAddress.host, "\(server.serverAddress.port!)", "3"], prints: expected)
        }
        let plain = try TCPServer(loopback4, UpperHandler.self)
        try withServing(plain) { server in
            try assertPython(script, [server.serverAddress.host, "\(server.serverAddress.port!)", "1"], prints: "HELLO FROM PYTHON 0")
        }
    }

    func testPythonUDPClient() throws {
        let server = try ThreadingUDPServer(loopback4, UpperHandler.self)
        try withServing(server) { server in
            let script = """
            import socket, sys
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.settimeout(10)
            for word in sys.argv[3:]:
                s.sendto(word.encode(), (sys.argv[1], int(sys.argv[2])))
                data, addr = s.recvfrom(1024)
                assert addr == (sys.argv[1], int(sys.argv[2])), addr
                print(data.decode())
            """
            try assertPython(script, [server.serverAddress.host, "\(server.serverAddress.port!)", "alpha", "beta"],
                             prints: "ALPHA\nBETA\n")
        }
    }

    func testPythonUnixStreamClient() throws {
        let directory = try TemporaryDirectory()
        let server = try ThreadingUnixStreamServer(.unix(path: directory.file("py.sock")), UpperLinesHandler.self)
        try withServing(server) { server in
            let script = """
            import socket, sys
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(10)
            s.connect(sys.argv[1])
            f = s.makefile("rwb")
            for word in ("one", "two", "three"):
                f.write(word.encode() + b"\\n")
                f.flush()
                print(f.readline().decode().strip())
            s.shutdown(socket.SHUT_WR)
            assert f.read() == b""
            """
            try assertPython(script, [server.serverAddress.host], prints: "ONE\nTWO\nTHREE\n")
        }
    }

    func testPythonLineClientOverTCP() throws {
        let server = try ThreadingTCPServer(loopback4, UpperLinesHandler.self, concurrency: ThreadPoolMixIn(threads: 2))
        try withServing(server) { server in
            let script = """
            import socket, sys
            s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
            s.sendall(b"first line\\nsecond line\\nno newline at end")
            s.shutdown(socket.SHUT_WR)
            print(s.makefile("rb").read().decode())
            """
            try assertPython(script, [server.serverAddress.host, "\(server.serverAddress.port!)"],
                             prints: "FIRST LINE\nSECOND LINE\nNO NEWLINE AT END\n")
        }
    }

    func testPythonUnixDatagramClient() throws {
        let directory = try TemporaryDirectory()
        let server = try ForkingUnixDatagramServer(.unix(path: directory.file("py.dgram")), EchoHandler.self)
        try withServing(server) { server in
            let script = """
            import socket, sys
            s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            s.settimeout(10)
            s.bind(sys.argv[2])  # replies need an address to go to
            for word in ("x", "yy", "z" * 5000):
                s.sendto(word.encode(), sys.argv[1])
                data, addr = s.recvfrom(8192)
                assert addr == sys.argv[1], addr
                print(len(data), data[:2].decode())
            """
            try assertPython(script, [server.serverAddress.host, directory.file("client.dgram")],
                             prints: "1 x\n2 yy\n5000 zz\n")
        }
    }

    func testPythonSeesConnectionRefusedAfterServerClose() throws {
        let server = try TCPServer(loopback4, EchoHandler.self)
        let address = server.serverAddress
        server.serverClose()
        let script = """
        import socket, sys
        s = socket.socket()
        print(s.connect_ex((sys.argv[1], int(sys.argv[2]))) == __import__("errno").ECONNREFUSED)
        """
        try assertPython(script, [address.host, "\(address.port!)"], prints: "True\n")
    }
}
