// The handlers' rfile/wfile: BufferedReader (read, readLine with limits, readAll, readSome, line
// iteration), StreamRequestHandler (large wfile writes, timeout, TCP_NODELAY) and
// DatagramRequestHandler (rfile over the packet, wfile sent as one reply, nothing if empty).
import Glibc
import SocketServer
import SocketServerTestSupport
import XCTest

/// Writes 4 MiB through wfile at once (CPython's SocketWriterTest: every byte must arrive).
final class BigWriterHandler: StreamRequestHandler {
    static let size = 4 << 20
    override func handle() throws {
        try wfile.write([UInt8](repeating: UInt8(ascii: "w"), count: Self.size))
        try wfile.write(ArraySlice(Array("end".utf8)))
    }
}

/// Waits for a line with a short timeout; a silent client gets cut off.
final class ImpatientHandler: StreamRequestHandler {
    override var timeout: Duration? { .milliseconds(100) }
    override func handle() throws {
        try wfile.write(try rfile.readLine())
    }
}

/// Reports whether TCP_NODELAY is set on the connection (Unix sockets have no such option).
final class NoDelayHandler: StreamRequestHandler {
    override var disableNagleAlgorithm: Bool { true }
    override func handle() throws {
        if request.family == .unix { return try wfile.write("unix: setup did not fail") }
        try wfile.write("nodelay=\(try request.getOption(.tcpNoDelay) != 0)")
    }
}

/// Reads the datagram's lines and answers with them numbered; "quiet" gets no answer.
final class NumberingDatagramHandler: DatagramRequestHandler {
    override func handle() throws {
        XCTAssertTrue(socket === request)
        var number = 0
        for line in rfile {
            let text = String(decoding: line, as: UTF8.self)
            if text == "quiet" { return }
            number += 1
            try wfile.write("\(number) \(text)")
        }
    }
}

final class RequestHandlerIOTests: XCTestCase {
    private func reader(_ text: String) -> BufferedReader { BufferedReader(bytes: Array(text.utf8)) }
    private func string(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    func testReadLineAndLimits() throws {
        let lines = reader("first\nsecond line\nno end")
        XCTAssertEqual(string(try lines.readLine()), "first\n")
        XCTAssertEqual(string(try lines.readLine(limit: 4)), "seco", "a long line comes back in pieces")
        XCTAssertEqual(string(try lines.readLine(limit: 4)), "nd l")
        XCTAssertEqual(string(try lines.readLine()), "ine\n")
        XCTAssertEqual(string(try lines.readLine()), "no end", "the last line may lack its newline")
        XCTAssertEqual(try lines.readLine(), [], "empty means end of input")
        XCTAssertEqual(BufferedReader.defaultLineLimit, 65536)
    }

    func testReadExactReadAllAndReadSome() throws {
        let input = reader("0123456789")
        XCTAssertEqual(string(try input.read(3)), "012")
        XCTAssertEqual(string(try input.readSome(2)), "34")
        XCTAssertEqual(string(try input.readAll()), "56789")
        XCTAssertEqual(try input.read(5), [], "nothing more at end of input")
    }

    func testNegativeSizesMeanNoLimitAsInPython() throws {
        // read(-1) reads to end of input, readline(-1) has no limit, read1(-1) reads a buffer's worth
        // (these trapped on an invalid range before).
        XCTAssertEqual(string(try reader("ab\ncd").read(-1)), "ab\ncd")
        let lines = BufferedReader(bytes: Array(String(repeating: "x", count: 70_000).utf8) + Array("\nrest".utf8))
        XCTAssertEqual(try lines.readLine(limit: -1).count, 70_001, "one whole line past the default limit")
        XCTAssertEqual(string(try lines.readLine(limit: -1)), "rest")
        let some = reader("0123456789")
        XCTAssertEqual(string(try some.read(2)), "01")
        XCTAssertEqual(string(try some.readSome(-1)), "23456789")
        XCTAssertEqual(try some.read(-1), [], "end of input")
        XCTAssertEqual(try some.readSome(-1), [])
    }

    func testReadAcrossSmallChunksFromASocket() throws {
        let (left, right) = try Socket.pair()
        defer { left.close(); right.close() }
        let input = BufferedReader(socket: right, chunkSize: 3)
        try left.sendAll("alpha\nbeta\ngamma")
        try left.shutdown(.write)
        XCTAssertEqual(string(try input.readLine()), "alpha\n")
        XCTAssertEqual(string(try input.read(4)), "beta")
        XCTAssertEqual(Array(input).map(string), ["\n", "gamma"], "iteration runs to end of input")
    }

    func testCustomSourceAndErrors() throws {
        var chunks = [Array("ab".utf8), Array("c\n".utf8)]
        let input = BufferedReader(chunkSize: 16) { destination in
            guard !chunks.isEmpty else { throw Boom() }
            let chunk = chunks.removeFirst()
            destination.copyBytes(from: chunk)
            return chunk.count
        }
        XCTAssertEqual(string(try input.readLine()), "abc\n")
        XCTAssertThrowsError(try input.readLine(), "a failing source surfaces its error")
        XCTAssertNil(input.makeIterator().next(), "iteration ends on an error")
    }

    func testLargeWfileWriteArrivesWhole() throws {
        let server = try ThreadingTCPServer(loopback4, BigWriterHandler.self)
        try withServing(server) { server in
            let reply = try streamExchange(server.serverAddress, [])
            XCTAssertEqual(reply.count, BigWriterHandler.size + 3)
            XCTAssertEqual(string(Array(reply.suffix(3))), "end")
            XCTAssertTrue(reply.dropLast(3).allSatisfy { $0 == UInt8(ascii: "w") })
        }
    }

    func testStreamHandlerTimeoutCutsOffASilentClient() throws {
        let server = try RecordingServer(loopback4, ImpatientHandler.self)
        try withServing(server) { server in
            let silent = try connectClient(server.serverAddress)
            defer { silent.close() }
            let elapsed = try timed { XCTAssertEqual(try readAll(silent), [], "closed by the server") }
            XCTAssertLessThan(elapsed, .seconds(3))
            XCTAssertTrue(server.events.value.contains { $0.hasPrefix("error recv: timed out") }, "\(server.events.value)")
            XCTAssertEqual(try streamExchange(server.serverAddress, "prompt\n"), "prompt\n")
        }
    }

    func testDisableNagleAlgorithmSetsTCPNoDelay() throws {
        let server = try TCPServer(loopback4, NoDelayHandler.self)
        try withServing(server) { server in
            XCTAssertEqual(try streamExchange(server.serverAddress, ""), "nodelay=true")
        }
        let directory = try TemporaryDirectory()
        let unix = try UnixStreamServer(path: directory.file("n.sock"), NoDelayHandler.self)
        try withServing(unix) { server in
            XCTAssertEqual(try streamExchange(server.serverAddress, ""), "unix: setup did not fail", "not applied to Unix sockets")
        }
    }

    func testDatagramHandlerRepliesOnceWithWhatWasWritten() throws {
        let server = try UDPServer(loopback4, NumberingDatagramHandler.self)
        try withServing(server) { server in
            let client = try udpClient()
            defer { client.close() }
            try client.sendTo(Array("quiet".utf8), server.serverAddress)  // no reply at all
            try client.sendTo(Array("a\nb\nc".utf8), server.serverAddress)
            let (reply, _) = try client.recvFrom(1024)
            XCTAssertEqual(string(reply), "1 a\n2 b\n3 c", "one datagram collecting every write")
        }
    }
}
