// Every Swift and Python block of the README is a whole file the tests build or run: an example
// program (Sources/Examples/*/main.swift) or its client (client.py), the example plugin, or the
// manifest of a package that depends on the library (built by UploadExampleTests).
import Foundation
import SocketServerTestSupport
import XCTest

final class ReadmeExampleTests: XCTestCase {
    private func files(_ name: String) throws -> [String: String] {
        let examples = repositoryRoot + "/Sources/Examples"
        var found: [String: String] = [:]
        for example in try FileManager.default.contentsOfDirectory(atPath: examples).sorted() {
            let path = "\(examples)/\(example)/\(name)"
            if let text = readFile(path) { found["Sources/Examples/\(example)/\(name)"] = text }
        }
        return found
    }

    func testEverySwiftBlockIsAFileTheTestsBuild() throws {
        let programs = try files("main.swift")
        XCTAssertEqual(programs.count, 7, "\(programs.keys.sorted())")
        var known = programs
        for path in ["Sources/GreetPlugin/Greet.swift", "Tests/ExampleTests/Fixtures/Package.swift"] {
            known[path] = try XCTUnwrap(readFile(repositoryRoot + "/" + path), path)
        }
        let blocks = try readmeBlocks("swift")
        for block in blocks {
            XCTAssertNotNil(known.first { $0.value == block }, "a README block is no file the tests build:\n\(block)")
        }
        for (path, text) in known.sorted(by: { $0.key < $1.key }) {
            XCTAssertTrue(blocks.contains(text), "the README does not show \(path) as it is")
        }
    }

    func testEveryPythonBlockIsAClientTheTestsRun() throws {
        let clients = try files("client.py")
        XCTAssertEqual(clients.count, 4, "\(clients.keys.sorted())")
        let blocks = try readmeBlocks("python")
        for block in blocks {
            XCTAssertNotNil(clients.first { $0.value == block }, "a README block is no client the tests run:\n\(block)")
        }
        for (path, text) in clients.sorted(by: { $0.key < $1.key }) {
            XCTAssertTrue(blocks.contains(text), "the README does not show \(path) as it is")
        }
    }
}
