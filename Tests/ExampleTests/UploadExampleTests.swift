// The seeds' upload server twice, driven by one Python client: as the seed writes it
// (upload-server), and with the library's UploadStreamHandler configured by a subclass
// (upload-handler), the latter also built as a separate package depends on the library.
import Foundation
import SocketServer
import SocketServerTestSupport
import XCTest

final class UploadExampleTests: ExampleTestCase {
    private var uploads = ""

    override func setUpWithError() throws {
        try super.setUpWithError()
        uploads = directory + "/uploads"
        XCTAssertEqual(mkdir(uploads, 0o755), 0)
    }

    /// Two files to send: a short text and 200 KiB of bytes (many packets).
    private func files() -> [(path: String, bytes: [UInt8])] {
        let text = Array("hello upload\n".utf8)
        let binary = (0..<(200 * 1024)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 9) }
        return [("note.txt", text), ("data.bin", binary)].map { name, bytes in
            let path = directory + "/" + name
            _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
            return (path, bytes)
        }
    }

    private func stored(_ name: String) -> [UInt8]? { readBytes(uploads + "/" + name) }

    func testSeedUploadServerStoresWhatThePythonClientSends() throws {
        let server = try ExampleProgram("upload-server", ["0", uploads], in: directory)
        let sent = files()
        let client = try runClient("upload-server/client.py", ["127.0.0.1", "\(server.port)"] + sent.map(\.path))
        XCTAssertEqual(client.status, 0, client.stderr)
        XCTAssertEqual(client.stdout, "", "the seed's server never answers")
        XCTAssertEqual(stored("note.txt"), sent[0].bytes)
        XCTAssertEqual(stored("data.bin"), sent[1].bytes)
        XCTAssertTrue(server.stdout.contains("recvsize:\(200 * 1024) filesize:\(200 * 1024)"), server.stdout)
    }

    func testUploadHandlerSubclassServesWithItsSettings() throws {
        try assertUploadHandler(try ExampleProgram.path("upload-handler"))
    }

    /// The README's manifest, in a package of its own beside a checkout named socketserverd,
    /// builds the upload-handler program against both library products, and it serves.
    func testAPackageDependingOnTheLibraryBuildsAndServes() throws {
        try XCTSkipIf(Sanitizers.address || Sanitizers.thread, "builds a plain package; the plain run covers it")
        let swift = try swiftExecutable()
        XCTAssertEqual(symlink(repositoryRoot, directory + "/socketserverd"), 0)
        let app = directory + "/myserver"
        XCTAssertEqual(mkdir(app, 0o755), 0)
        try FileManager.default.createDirectory(atPath: app + "/Sources/myserver", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: repositoryRoot + "/Tests/ExampleTests/Fixtures/Package.swift", toPath: app + "/Package.swift")
        try FileManager.default.copyItem(atPath: repositoryRoot + "/Sources/Examples/upload-handler/main.swift",
                                         toPath: app + "/Sources/myserver/main.swift")
        let built = try runProgram(swift, ["build", "--package-path", app], env: inheritedEnvironment, limit: .seconds(600))
        XCTAssertEqual(built.status, 0, built.output)
        try assertUploadHandler(app + "/.build/debug/myserver")
    }

    /// The hardened handler with the subclass's settings: the files stored, `OK` replies, a file
    /// over the subclass's 1 MiB limit refused and not stored.
    private func assertUploadHandler(_ program: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let server = try ExampleProgram(program, ["0", uploads], in: directory)
        let sent = files()
        let client = try runClient("upload-server/client.py", ["127.0.0.1", "\(server.port)"] + sent.map(\.path))
        XCTAssertEqual(client.stdout, "OK note.txt 13\nOK data.bin \(200 * 1024)\n", client.stderr, file: file, line: line)
        XCTAssertEqual(stored("note.txt"), sent[0].bytes, file: file, line: line)
        XCTAssertEqual(stored("data.bin"), sent[1].bytes, file: file, line: line)

        let large = directory + "/large.bin"
        _ = FileManager.default.createFile(atPath: large, contents: Data(count: (1 << 20) + 1))
        let refused = try runClient("upload-server/client.py", ["127.0.0.1", "\(server.port)", large])
        XCTAssertEqual(refused.stdout, "ERR filesize 1048577 is over the limit of 1048576 bytes\n", refused.stderr, file: file, line: line)
        XCTAssertNil(stored("large.bin"), file: file, line: line)
        XCTAssertEqual(directoryEntries(uploads).sorted(), ["data.bin", "note.txt"], file: file, line: line)
    }

    private func swiftExecutable() throws -> String {
        let candidates = (getenv("PATH").map { String(cString: $0) } ?? "").split(separator: ":").map { "\($0)/swift" }
            + ["/opt/swift/usr/bin/swift", "/usr/bin/swift"]
        guard let swift = candidates.first(where: { access($0, X_OK) == 0 }) else { throw XCTSkip("no swift on PATH") }
        return swift
    }
}
