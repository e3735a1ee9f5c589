// Python's spellings of the rest: `data.decode()` (strict) and `decode(errors: .replace)`, the
// mix-ins' attributes set on any server, and threads with names (`PosixThread.current.name`) and
// errors that `join()` rethrows.
import Foundation
import Glibc
import SocketServer
import SocketServerTestSupport
import XCTest

final class PythonTextAndThreadTests: XCTestCase {
    func testDecodeIsStrictAndTheLenientOneReplaces() throws {
        XCTAssertEqual(try Array("héllo".utf8).decode(), "héllo")
        XCTAssertEqual(try Array("héllo".utf8)[1...].decode(), "éllo", "slices decode too")
        let bad: [UInt8] = [0x61, 0x62, 0xC3, 0x28, 0x63]
        XCTAssertThrowsError(try bad.decode()) { error in
            XCTAssertEqual(error as? UnicodeDecodeError, UnicodeDecodeError(position: 2, byte: 0xC3))
            XCTAssertEqual("\(error)", "'utf-8' codec can't decode byte 0xc3 in position 2")
        }
        XCTAssertThrowsError(try [0x61, 0xE2, 0x82].decode(), "a sequence cut short") { error in
            XCTAssertEqual((error as? UnicodeDecodeError)?.position, 1)
        }
        XCTAssertEqual(bad.decode(errors: .replace), "ab\u{FFFD}(c")
        XCTAssertEqual("ok".encode(), [0x6F, 0x6B])
    }

    func testMixInAttributesAreOnEveryServer() throws {
        let threading = ThreadingMixIn()
        let server = try TCPServer(loopback4, EchoHandler.self, concurrency: threading)
        defer { server.serverClose() }
        XCTAssertFalse(server.daemonThreads)
        XCTAssertTrue(server.blockOnClose)
        server.daemonThreads = true
        server.blockOnClose = false
        XCTAssertTrue(threading.daemonThreads, "the attribute reaches the server's ThreadingMixIn")
        XCTAssertFalse(threading.blockOnClose)

        let forking = ForkingMixIn()
        let forked = try UDPServer(loopback4, EchoHandler.self, concurrency: forking)
        defer { forked.serverClose() }
        XCTAssertEqual(forked.maxChildren, 40)
        forked.maxChildren = 3
        forked.blockOnClose = false
        XCTAssertEqual(forking.maxChildren, 3)
        XCTAssertFalse(forking.blockOnClose)
        XCTAssertEqual(forked.activeChildren, [])

        let threaded = try ThreadingTCPServer(loopback4, EchoHandler.self)
        defer { threaded.serverClose() }
        threaded.daemonThreads = true
        XCTAssertEqual(threaded.threading?.daemonThreads, true, "the Threading… classes are the same servers")

        let plain = try TCPServer(loopback4, EchoHandler.self)
        defer { plain.serverClose() }
        plain.daemonThreads = true  // as on a plain Python TCPServer: nothing to set it on
        XCTAssertFalse(plain.daemonThreads)
        XCTAssertEqual(plain.maxChildren, 0)
    }

    func testThreadsAreNamedAsPythonNamesThem() throws {
        XCTAssertEqual(PosixThread.current.name, "MainThread")
        let seen = Locked<[String]>([])
        let first = try PosixThread.start { seen.update { $0.append(PosixThread.current.name) } }
        let second = try PosixThread.start { seen.update { $0.append(PosixThread.current.name) } }
        let named = try PosixThread.start(name: "worker") { seen.update { $0.append(PosixThread.current.name) } }
        first.join()
        second.join()
        named.join()
        XCTAssertEqual(Set(seen.value), [first.name, second.name, "worker"])
        let numbers = [first.name, second.name].map { Int($0.dropFirst("Thread-".count)) }
        XCTAssertTrue(first.name.hasPrefix("Thread-") && second.name.hasPrefix("Thread-"), "\(first.name) \(second.name)")
        XCTAssertEqual(numbers[1], numbers[0].map { $0 + 1 }, "numbered in the order they start")
        XCTAssertEqual(named.name, "worker")

        let foreign = Locked<String>("")
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            foreign.update { $0 = PosixThread.current.name }
            done.signal()
        }
        done.wait()
        XCTAssertTrue(foreign.value.hasPrefix("Dummy-"), "a thread started elsewhere: \(foreign.value)")
    }

    func testJoinRethrowsWhatTheThreadThrew() throws {
        struct Failure: Error, Equatable { let text: String }
        let failing = try PosixThread.start { throw Failure(text: "from the thread") }
        XCTAssertThrowsError(try failing.join()) { XCTAssertEqual($0 as? Failure, Failure(text: "from the thread")) }
        let fine = try PosixThread.start { () throws -> Void in }
        XCTAssertNoThrow(try fine.join())

        // A library error thrown on a thread (here a second server on a busy port) reaches the
        // thread that joins it, where `try?` would have dropped it.
        let busy = try TCPServer(loopback4, EchoHandler.self)
        defer { busy.serverClose() }
        let port = try XCTUnwrap(busy.serverAddress.port)
        let second = try PosixThread.start { _ = try TCPServer(("127.0.0.1", port), EchoHandler.self) }
        XCTAssertThrowsError(try second.join()) { error in
            XCTAssertEqual(error as? SocketError, .system(call: "bind 127.0.0.1:\(port)", errno: EADDRINUSE))
        }
    }
}
