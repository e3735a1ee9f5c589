// Helpers for the config loader's tests: temp directories, a handler catalogue, error capture.
import Foundation
import SocketServer
@testable import SocketServerDaemon
import SocketServerHandlers
import XCTest

/// A temporary directory removed when the test ends. Directories are 0755 and files 0644 whatever
/// the umask: the loader refuses config files that group or others can write, or that sit in such
/// a directory.
final class ConfigTempDir {
    let path: String

    init() throws {
        let base = URL(fileURLWithPath: NSTemporaryDirectory()).resolvingSymlinksInPath()
        path = base.appendingPathComponent("socketserverd-config-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false,
                                                attributes: [.posixPermissions: 0o755])
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// Writes `text` to `relative` (creating directories) and returns the full path.
    @discardableResult
    func write(_ relative: String, _ text: String) throws -> String {
        try write(relative, bytes: Array(text.utf8))
    }

    @discardableResult
    func write(_ relative: String, bytes: [UInt8]) throws -> String {
        let full = path + "/" + relative
        let directory = (full as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o755])
        try Data(bytes).write(to: URL(fileURLWithPath: full))
        chmod(full, 0o644)
        return full
    }

    func makeDirectory(_ relative: String) throws -> String {
        let full = path + "/" + relative
        try FileManager.default.createDirectory(atPath: full, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o755])
        return full
    }
}

/// A catalogue like the built-ins, but `upload` does not touch the file system, plus two oddities.
struct ConfigTestCatalog: HandlerCatalog {
    static let descriptors: [HandlerDescriptor] = [
        HandlerDescriptor(name: "echo", stream: StreamRequestHandler.self, datagram: DatagramRequestHandler.self),
        HandlerDescriptor(name: "discard", stream: StreamRequestHandler.self, datagram: DatagramRequestHandler.self),
        HandlerDescriptor(name: "daytime", stream: StreamRequestHandler.self, datagram: DatagramRequestHandler.self),
        HandlerDescriptor(name: "upper", stream: StreamRequestHandler.self, datagram: DatagramRequestHandler.self),
        HandlerDescriptor(
            name: "upload", stream: StreamRequestHandler.self, datagram: nil,
            keys: ["directory": nil, "max_size": "104857600"],
            validate: { options in
                var problems: [(key: String, problem: String)] = []
                if let text = options["max_size"], (Int(text) ?? 0) <= 0 {
                    problems.append(("max_size", "must be a positive integer (bytes), not \"\(text)\""))
                }
                if let directory = options["directory"], !directory.hasPrefix("/") {
                    problems.append(("directory", "must be an absolute path"))
                }
                return problems
            }),
        HandlerDescriptor(name: "beacon", stream: nil, datagram: DatagramRequestHandler.self,
                          keys: ["interval": "5"]),
        HandlerDescriptor(name: "broken", stream: nil, datagram: nil),
    ]

    func descriptor(named name: String) -> HandlerDescriptor? {
        Self.descriptors.first { $0.name == name }
    }

    var names: [String] { Self.descriptors.map(\.name) }
}

/// Runs the loader on `text` (as the file `file`) and returns its error lines; [] if it loaded.
func configErrors(_ text: String, file: String = "main.conf", catalog: any HandlerCatalog = ConfigTestCatalog(),
                  cpuCount: Int = 4, forRoot: Bool = false) -> [String] {
    do {
        _ = try ConfigLoader.parse(text: text, file: file, catalog: catalog, cpuCount: cpuCount, forRoot: forRoot)
        return []
    } catch {
        return error.errors.map(\.description)
    }
}

/// Loads `text` and fails the test (returning nil) if it has errors.
func configLoaded(_ text: String, file: String = "main.conf", catalog: any HandlerCatalog = ConfigTestCatalog(),
                  cpuCount: Int = 4, forRoot: Bool = false,
                  sourceFile: StaticString = #filePath, line: UInt = #line) -> DaemonConfig? {
    do {
        return try ConfigLoader.parse(text: text, file: file, catalog: catalog, cpuCount: cpuCount, forRoot: forRoot)
    } catch {
        XCTFail("unexpected errors:\n\(error)", file: sourceFile, line: line)
        return nil
    }
}

/// Asserts that `text` fails with exactly `expected` (each "file:line: message").
func assertConfigErrors(_ text: String, _ expected: [String], file: String = "main.conf",
                        catalog: any HandlerCatalog = ConfigTestCatalog(), forRoot: Bool = false,
                        sourceFile: StaticString = #filePath, line: UInt = #line) {
    let actual = configErrors(text, file: file, catalog: catalog, forRoot: forRoot)
    XCTAssertEqual(actual, expected, "\n" + actual.joined(separator: "\n"), file: sourceFile, line: line)
}

/// A minimal valid service section, for tests that are about something else.
func configService(_ name: String = "s", listen: String = "tcp://127.0.0.1:7000", handler: String = "echo",
                   _ extra: String = "") -> String {
    "[service \(name)]\nlisten = \(listen)\nhandler = \(handler)\n" + extra
}
