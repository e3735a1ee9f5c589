// The built-in handlers under a plain library server, configured as a Python handler class is:
// a subclass overrides `settings`. And the same values built from a service's configuration.
import Foundation
import XCTest
import SocketServer
import SocketServerHandlers
import SocketServerTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// Where the subclasses below put their files; set by each test before it serves.
private let uploadDirectory = Locked("")

private final class Locked<Value: Sendable>: @unchecked Sendable {
    private var value: Value
    private let lock = NSLock()
    init(_ value: Value) { self.value = value }
    func get() -> Value { lock.withLock { value } }
    func set(_ new: Value) { lock.withLock { value = new } }
}

private final class SmallUploads: UploadStreamHandler {
    override var settings: UploadStreamHandler.Settings {
        .init(directory: uploadDirectory.get(), maxSize: 8, timeout: .milliseconds(300))
    }
}

private final class WorkingDirectory: ExecStreamHandler {
    override var settings: ExecStreamHandler.Settings { .init(program: "/bin/pwd", directory: uploadDirectory.get()) }
}

private final class RootDirectory: ExecStreamHandler {
    override var settings: ExecStreamHandler.Settings { .init(program: "/bin/pwd") }
}

final class HandlerSettingsTests: XCTestCase {
    private var directory = ""

    override func setUpWithError() throws {
        directory = realPath(try makeTemporaryDirectory())
        uploadDirectory.set(directory)
    }

    override func tearDown() {
        removeTree(directory)
    }

    private func serve<R>(_ handler: BaseRequestHandler.Type, _ body: (Int) throws -> R) throws -> R {
        let server = try ThreadingTCPServer(("127.0.0.1", 0), handler)
        let serving = try Serving(server)
        defer { serving.stop() }
        return try body(server.serverAddress.port!)
    }

    func testAnUploadSubclassServesWithItsOwnSettings() throws {
        try serve(SmallUploads.self) { port in
            XCTAssertEqual(try upload(port: port, name: "small.txt", content: Array("8 bytes!".utf8)), "OK small.txt 8\n")
            XCTAssertEqual(readBytes(directory + "/small.txt"), Array("8 bytes!".utf8))
            XCTAssertEqual(try upload(port: port, name: "big.txt", content: Array("nine byte".utf8)),
                           "ERR filesize 9 is over the limit of 8 bytes\n")
            // The settings' timeout: a client that sends nothing is told so and closed.
            let silent = try connectTCP(port: port)
            defer { silent.close() }
            let elapsed = try timed { XCTAssertEqual(try readAllText(silent), "ERR timed out\n") }
            XCTAssertLessThan(elapsed, .seconds(5))
        }
        XCTAssertEqual(directoryEntries(directory), ["small.txt"])
    }

    func testAnUnconfiguredUploadHandlerRefusesEveryUpload() throws {
        try serve(UploadStreamHandler.self) { port in
            XCTAssertEqual(try upload(port: port, name: "a.txt"), "ERR no upload directory is configured\n")
        }
    }

    func testExecProgramsRunInTheirSettingsDirectoryAndInRootByDefault() throws {
        try serve(WorkingDirectory.self) { port in
            XCTAssertEqual(try readAllText(try connectTCP(port: port)), directory + "\n")
        }
        try serve(RootDirectory.self) { port in
            XCTAssertEqual(try readAllText(try connectTCP(port: port)), "/\n", "as inetd's programs")
        }
    }

    /// What the daemon builds from a service's keys is the value a subclass would write.
    func testSettingsBuiltFromAConfiguration() throws {
        let upload = try UploadStreamHandler.Settings(HandlerConfiguration(options: ["directory": "/srv/up", "max_size": "100"]))
        XCTAssertEqual(upload, .init(directory: "/srv/up", maxSize: 100), "the timeout is the connection's, set by the daemon")
        XCTAssertEqual(try UploadStreamHandler.Settings(HandlerConfiguration(options: ["directory": "/srv/up"])).maxSize,
                       UploadStreamHandler.defaultMaxSize)
        XCTAssertThrowsError(try UploadStreamHandler.Settings(HandlerConfiguration(options: [:])))
        XCTAssertThrowsError(try UploadStreamHandler.Settings(HandlerConfiguration(options: ["directory": "/x", "max_size": "lots"])))

        let exec = try ExecSettings(HandlerConfiguration(options: ["command": "/bin/echo 'two words' x", "directory": "/tmp"]))
        XCTAssertEqual(exec, ExecSettings(program: "/bin/echo", arguments: ["two words", "x"], directory: "/tmp"))
        XCTAssertEqual(try ExecSettings(command: "/bin/true").directory, "/")
        XCTAssertThrowsError(try ExecSettings(command: "relative/prog")) { error in
            XCTAssertTrue("\(error)".contains("absolute path"), "\(error)")
        }
        XCTAssertNotNil(BuiltinHandlers.upload.settings)
        XCTAssertNotNil(BuiltinHandlers.exec.settings)
        XCTAssertNil(BuiltinHandlers.echo.settings, "echo has nothing to set")
    }
}
