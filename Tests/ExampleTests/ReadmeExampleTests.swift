// Every Swift and Python block of the README is a whole file the tests build or run: an example
// program (Sources/Examples/*/main.swift) or its client (client.py), the example plugin, or the
// manifest of a package that depends on the library (built by UploadExampleTests); a Python block
// that leaves lines out (`...`) is an excerpt of a program the daemon tests run (Tests/Programs).
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
        let programs = try pythonTestPrograms()
        for block in blocks where isExcerpt(block) {
            XCTAssertNotNil(programs.first { isExcerpt(block, of: $0) }, "a README excerpt is of no program the tests run:\n\(block)")
        }
        for block in blocks where !isExcerpt(block) {
            XCTAssertNotNil(clients.first { $0.value == block }, "a README block is no client the tests run:\n\(block)")
        }
        for (path, text) in clients.sorted(by: { $0.key < $1.key }) {
            XCTAssertTrue(blocks.contains(text), "the README does not show \(path) as it is")
        }
    }

    /// The Python programs the daemon tests run as program workers (Tests/Programs).
    private func pythonTestPrograms() throws -> [String] {
        let directory = repositoryRoot + "/Tests/Programs"
        return try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
            .filter { $0.hasSuffix(".py") }.compactMap { readFile(directory + "/" + $0) }
    }

    /// A block that leaves part of a program out, on a line of its own: `...` and a comment.
    private func isExcerpt(_ block: String) -> Bool {
        block.split(separator: "\n").contains { $0.trimmingCharacters(in: .whitespaces).hasPrefix("... ") }
    }

    /// Whether `block` is `program` with parts left out: its modules are the ones the program
    /// imports, and its other lines are the program's, in order.
    private func isExcerpt(_ block: String, of program: String) -> Bool {
        let programLines = program.split(separator: "\n").map(String.init)
        var imported = Set<String>()
        for line in programLines where line.hasPrefix("import ") {
            line.dropFirst(7).split(separator: ",").forEach { imported.insert($0.trimmingCharacters(in: .whitespaces)) }
        }
        var rest = programLines[...]
        for line in block.split(separator: "\n").map(String.init) {
            if line.trimmingCharacters(in: .whitespaces).hasPrefix("... ") { continue }
            if line.hasPrefix("import ") {
                let modules = line.dropFirst(7).split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
                if !modules.allSatisfy(imported.contains) { return false }
                continue
            }
            guard let index = rest.firstIndex(of: line) else { return false }
            rest = rest[(index + 1)...]
        }
        return true
    }
}
