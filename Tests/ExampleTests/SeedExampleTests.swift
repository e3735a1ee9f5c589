// The seeds' programs as the README gives them (Sources/Examples), each driven by its Python
// client: TCP and UDP upper-case servers, the threaded demo, the chat server, the event loop, and
// what runMain makes of an error.
import Foundation
import SocketServer
import SocketServerTestSupport
import XCTest

final class SeedExampleTests: ExampleTestCase {
    func testTCPUpperAnswersThePythonClient() throws {
        let server = try ExampleProgram("tcp-upper", in: directory)
        let client = try runClient("tcp-upper/client.py", ["localhost", "\(server.port)", "hello", "world"])
        XCTAssertEqual(client.status, 0, client.stderr)
        XCTAssertEqual(client.stdout, "Sent:     hello world\nReceived: HELLO WORLD\n")
        XCTAssertTrue(eventually { server.stdout.contains("127.0.0.1 wrote:\nhello world\n") }, server.stdout)
    }

    /// `recv(1024).decode()` is strict, as Python's: bad UTF-8 fails that request with Python's
    /// message, and the server goes on.
    func testTCPUpperRefusesBadUTF8AndGoesOn() throws {
        let server = try ExampleProgram("tcp-upper", in: directory)
        let raw = try runPython("""
            import socket, sys
            with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10) as s:
                s.sendall(b"ok \\xff\\xfe\\n")
                print(repr(s.recv(1024)))
            """, ["\(server.port)"])
        XCTAssertEqual(raw.stdout, "b''\n", raw.stderr)
        XCTAssertTrue(eventually { server.stderr.contains("'utf-8' codec can't decode byte 0xff in position 3") }, server.stderr)
        let client = try runClient("tcp-upper/client.py", ["127.0.0.1", "\(server.port)", "still", "here"])
        XCTAssertEqual(client.stdout, "Sent:     still here\nReceived: STILL HERE\n", client.stderr)
    }

    /// A second server on a busy port ends as a Python script does: one line naming the error,
    /// exit status 1, no crash report.
    func testRunMainPrintsAThrownErrorAsOneLineAndExitsOne() throws {
        let server = try ExampleProgram("tcp-upper", in: directory)
        let second = try runProgram(try ExampleProgram.path("tcp-upper"), ["\(server.port)"])
        XCTAssertEqual(second.status, 1, second.output)
        XCTAssertEqual(second.stderr, "tcp-upper: bind 127.0.0.1:\(server.port): Address already in use (errno 98)\n")
        XCTAssertEqual(second.stdout, "")
    }

    func testUDPUpperAnswersThePythonClient() throws {
        let server = try ExampleProgram("udp-upper", in: directory)
        for words in [["hello", "udp"], ["again"]] {
            let client = try runClient("udp-upper/client.py", ["localhost", "\(server.port)"] + words)
            XCTAssertEqual(client.status, 0, client.stderr)
            let text = words.joined(separator: " ")
            XCTAssertEqual(client.stdout, "Sent:     \(text)\nReceived: \(text.uppercased())\n")
        }
        XCTAssertTrue(eventually { server.stdout.contains("127.0.0.1 wrote:\nagain\n") }, server.stdout)
    }

    /// The seed's output, Python's thread names included: the server loop is Thread-1, and each
    /// request gets a thread of its own.
    func testThreadedDemoPrintsItsThreadsReplies() throws {
        let result = try runProgram(try ExampleProgram.path("threaded-demo"), [])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(result.stdout, """
            Server loop running in thread: Thread-1
            Received: Thread-2: Hello World 1
            Received: Thread-3: Hello World 2
            Received: Thread-4: Hello World 3

            """)
        XCTAssertEqual(result.stderr, "")
    }

    func testChatServerGreetsAndEchoesThePythonClient() throws {
        let server = try ExampleProgram("chat-server", in: directory)
        let input = writeFile("hello\n你好, socketserver\nexit\nnot sent\n", to: directory + "/input.txt", mode: 0o644)
        let client = try runClient("chat-server/client.py", ["127.0.0.1", "\(server.port)"], stdin: input)
        XCTAssertEqual(client.status, 0, client.stderr)
        let lines = client.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        XCTAssertEqual(lines.count, 4, client.stdout)
        let greeting = try XCTUnwrap(lines.first)
        XCTAssertTrue(greeting.hasPrefix("connection 127.0.0.1:\(server.port) at ") && greeting.hasSuffix(" succeed!"), greeting)
        XCTAssertEqual(Array(lines.dropFirst()), ["hello", "你好, socketserver", ""])
        XCTAssertTrue(eventually { server.stdout.contains("RECV from 127.0.0.1") }, server.stdout)
        XCTAssertTrue(server.stdout.contains("got connection from 127.0.0.1:"), server.stdout)
    }

    func testEventLoopUpperAnswersThePythonClient() throws {
        let server = try ExampleProgram("event-upper", in: directory)
        let client = try runClient("tcp-upper/client.py", ["127.0.0.1", "\(server.port)", "one", "loop"])
        XCTAssertEqual(client.status, 0, client.stderr)
        XCTAssertEqual(client.stdout, "Sent:     one loop\nReceived: ONE LOOP\n\n")
    }
}
