// What the server tests share: the concurrency models, the echo handlers (one says which process
// served it), and the checks made after a server is closed.
import Glibc
import SocketServer
import SocketServerTestSupport
import XCTest

/// Where requests run, as the tests name them.
enum ConcurrencyModel: String {
    case synchronous, threading, forking, pool

    /// The explicit concurrency to pass, for the thread pool (the others come with the class).
    var poolIfAny: (any RequestConcurrency)? {
        self == .pool ? ThreadPoolMixIn(threads: 4, queueLimit: 16) : nil
    }
}

/// Echoes everything back: a stream until the client closes its side, a datagram as one reply.
final class EchoHandler: BaseRequestHandler {
    override func setup() throws {
        if request.type != .datagram { try request.setTimeout(ioTimeout) }
    }

    override func handle() throws {
        if request.type == .datagram {
            try request.sendTo(packet, clientAddress)
            return
        }
        while true {
            let chunk = try request.recv(65536)
            if chunk.isEmpty { return }
            try request.sendAll(chunk)
        }
    }
}

/// Echoes with the serving process's pid in front ("1234:data"): a stream until the client
/// closes its side, a datagram as one reply.
final class PidEchoHandler: BaseRequestHandler {
    override func setup() throws {
        if request.type != .datagram { try request.setTimeout(ioTimeout) }
    }

    override func handle() throws {
        let prefix = Array("\(getpid()):".utf8)
        if request.type == .datagram {
            try request.sendTo(prefix + packet, clientAddress)
            return
        }
        var received: [UInt8] = []
        while true {
            let chunk = try request.recv(65536)
            if chunk.isEmpty { break }
            received += chunk
        }
        try request.sendAll(prefix + received)
    }
}

/// Splits a PidEchoHandler reply into the pid and the echoed text.
func splitPidReply(_ reply: String) -> (pid: pid_t, text: String) {
    guard let colon = reply.firstIndex(of: ":"), let pid = pid_t(reply[..<colon]) else { return (-1, reply) }
    return (pid, String(reply[reply.index(after: colon)...]))
}

/// Checks a PidEchoHandler reply: the text came back, from a child exactly when forking.
func assertPidEcho(
    _ reply: String, _ expected: String, _ model: ConcurrencyModel, file: StaticString = #filePath, line: UInt = #line
) {
    let (pid, text) = splitPidReply(reply)
    XCTAssertEqual(text, expected, file: file, line: line)
    if model == .forking {
        XCTAssertNotEqual(pid, getpid(), "a forking server serves in a child", file: file, line: line)
        XCTAssertGreaterThan(pid, 0, file: file, line: line)
    } else {
        XCTAssertEqual(pid, getpid(), "\(model) serves in this process", file: file, line: line)
    }
}

/// After `serverClose()`: the socket is closed, children are reaped (no zombies), request threads
/// are joined.
func assertCleanedUp(
    _ server: TCPServer, _ model: ConcurrencyModel, threadsBefore: Int,
    file: StaticString = #filePath, line: UInt = #line
) {
    XCTAssertFalse(server.socket.isOpen, "serverClose closes the socket", file: file, line: line)
    switch model {
    case .forking:
        XCTAssertEqual((server as? any ForkingServer)?.activeChildren, [], "children reaped", file: file, line: line)
        XCTAssertEqual(zombieChildren(), [], "no zombies", file: file, line: line)
    case .threading:
        XCTAssertEqual((server as? any ThreadingServer)?.threading?.threadCount, 0, "threads joined", file: file, line: line)
    case .pool:
        XCTAssertEqual((server.concurrency as? ThreadPoolMixIn)?.queued, 0, file: file, line: line)
    case .synchronous:
        break
    }
    XCTAssertTrue(eventually { threadCount() <= threadsBefore },
                  "threads left running: \(threadCount()) > \(threadsBefore)", file: file, line: line)
}
