// exec's key `directory`: where its programs run (`/` when it is not set), checked at its line;
// upload's own `directory` is unchanged, and handlers that do not declare it reject it.
import Foundation
@testable import SocketServerDaemon
import SocketServerHandlers
import XCTest

final class ServiceDirectoryKeyTests: XCTestCase {
    private let program = "/bin/sh -c 'pwd'"

    private func exec(_ extra: String) -> String {
        configService("run", handler: "exec", "command = \(program)\n" + extra)
    }

    func testExecRunsInRootUnlessDirectorySaysOtherwise() throws {
        let root = try XCTUnwrap(configLoaded(exec(""), catalog: DaemonCatalog()))
        XCTAssertEqual(root.services.first?.options["directory"], "/", "unset: the programs run in /")
        XCTAssertEqual(try ExecSettings(HandlerConfiguration(options: root.services[0].options)).directory, "/")

        let there = NSTemporaryDirectory()
        let set = try XCTUnwrap(configLoaded(exec("directory = \(there)\n"), catalog: DaemonCatalog()))
        let service = try XCTUnwrap(set.services.first)
        XCTAssertEqual(service.options["directory"], there)
        let settings = try ExecSettings(HandlerConfiguration(options: service.options))
        XCTAssertEqual(settings, ExecSettings(program: "/bin/sh", arguments: ["-c", "pwd"], directory: there))
    }

    func testABadDirectoryIsAnErrorAtItsLine() {
        assertConfigErrors(exec("directory = relative/dir\n"),
                           ["main.conf:5: directory: must be an absolute path, not \"relative/dir\""], catalog: DaemonCatalog())
        assertConfigErrors(exec("directory = /nonexistent-ssd\n"), ["main.conf:5: directory: /nonexistent-ssd: No such file or directory"],
                           catalog: DaemonCatalog())
        assertConfigErrors(exec("directory = /bin/sh\n"), ["main.conf:5: directory: /bin/sh is not a directory"], catalog: DaemonCatalog())
    }

    func testOnlyHandlersDeclaringItTakeTheKeyAndUploadKeepsItsOwn() throws {
        assertConfigErrors(configService("e", handler: "upper", "directory = /tmp\n"),
                           ["main.conf:4: unknown key 'directory' (handler 'upper' takes no extra keys)"], catalog: DaemonCatalog())
        let uploads = NSTemporaryDirectory()
        let upload = try XCTUnwrap(configLoaded(configService("u", handler: "upload", "directory = \(uploads)\n"), catalog: DaemonCatalog()))
        XCTAssertEqual(upload.services.first?.options["directory"], uploads, "upload's files go there")
    }

    func testHelpListsTheKeyOnceWithEachMeaning() {
        let lines = ConfigHelp.text().split(separator: "\n").map(String.init)
        let headings = lines.filter { $0.hasPrefix("  directory ") }
        XCTAssertEqual(headings.count, 1, "\(headings)")
        XCTAssertTrue(headings.first?.contains("upload") == true && headings.first?.contains("exec") == true, "\(headings)")
        let doc = lines.first { $0.contains("files are written there") } ?? ""
        XCTAssertTrue(doc.contains("exec: the working directory the program starts in"), doc)
    }
}
