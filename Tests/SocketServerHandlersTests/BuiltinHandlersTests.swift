// The catalogue the daemon reads: names, handler types per socket kind, keys and validation.
import Foundation
import XCTest
import SocketServer
import SocketServerHandlers
import SocketServerTestSupport

final class BuiltinHandlersTests: XCTestCase {
    func testCatalogue() throws {
        XCTAssertEqual(BuiltinHandlers.all.map(\.name), ["echo", "discard", "daytime", "upper", "upload", "exec", "program"])
        XCTAssertEqual(BuiltinHandlers.names, ["echo", "discard", "daytime", "upper", "upload", "exec", "program"])
        let expected: [(String, BaseRequestHandler.Type, BaseRequestHandler.Type?)] = [
            ("echo", EchoStreamHandler.self, EchoDatagramHandler.self),
            ("discard", DiscardStreamHandler.self, DiscardDatagramHandler.self),
            ("daytime", DaytimeStreamHandler.self, DaytimeDatagramHandler.self),
            ("upper", UpperStreamHandler.self, UpperDatagramHandler.self),
            ("upload", UploadStreamHandler.self, nil),
            ("exec", ExecStreamHandler.self, ExecDatagramHandler.self),
        ]
        for (name, stream, datagram) in expected {
            let descriptor = try XCTUnwrap(BuiltinHandlers.named(name), name)
            XCTAssertEqual(descriptor.name, name)
            XCTAssertTrue(descriptor.stream == stream, name)
            XCTAssertTrue(descriptor.datagram == datagram, name)
        }
        // program has no request handler: the master runs the program as each worker.
        let program = try XCTUnwrap(BuiltinHandlers.named("program"))
        XCTAssertTrue(program.runsProgram && program.stream == nil && program.datagram == nil)
        XCTAssertFalse(expected.contains { BuiltinHandlers.named($0.0)?.runsProgram == true })
        XCTAssertNil(BuiltinHandlers.named("nope"))
        XCTAssertNil(BuiltinHandlers.named("Echo"))
        XCTAssertNil(BuiltinHandlers.named(""))
    }

    func testKeys() throws {
        for name in ["echo", "discard", "daytime", "upper"] {
            let descriptor = try XCTUnwrap(BuiltinHandlers.named(name))
            XCTAssertTrue(descriptor.keys.isEmpty, name)
            XCTAssertTrue(descriptor.validate([:]).isEmpty, name)
        }
        let upload = try XCTUnwrap(BuiltinHandlers.named("upload"))
        XCTAssertEqual(Set(upload.keys.keys), ["directory", "max_size"])
        XCTAssertEqual(upload.keys["directory"], .some(nil), "directory is required")
        XCTAssertEqual(upload.keys["max_size"], .some("104857600"))
    }

    func testUploadValidation() throws {
        let upload = try XCTUnwrap(BuiltinHandlers.named("upload"))
        func problems(_ options: [String: String]) -> [String] {
            upload.validate(options).map { "\($0.key): \($0.problem)" }
        }
        let directory = try makeTemporaryDirectory()
        defer { removeTree(directory) }
        let file = directory + "/plain"
        XCTAssertTrue(FileManager.default.createFile(atPath: file, contents: Data()))

        XCTAssertEqual(problems(["directory": directory]), [])
        XCTAssertEqual(problems(["directory": directory, "max_size": "1"]), [])
        XCTAssertEqual(problems(["directory": directory, "max_size": "104857600"]), [])
        XCTAssertEqual(problems([:]), ["directory: is required"])
        XCTAssertEqual(problems(["directory": ""]), ["directory: must not be empty"])
        XCTAssertEqual(problems(["directory": directory + "/missing"]), ["directory: \(directory)/missing: No such file or directory"])
        XCTAssertEqual(problems(["directory": file]), ["directory: \(file) is not a directory"])
        for bad in ["0", "-5", "abc", "1.5", "+5", " 5", "", "1e6", "99999999999999999999999"] {
            XCTAssertEqual(problems(["directory": directory, "max_size": bad]).count, 1, bad)
            XCTAssertEqual(upload.validate(["directory": directory, "max_size": bad]).first?.key, "max_size", bad)
        }
        XCTAssertEqual(problems(["max_size": "0"]).count, 2, "both keys are reported")
    }
}
