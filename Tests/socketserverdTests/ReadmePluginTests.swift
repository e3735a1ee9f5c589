// The README's C plugin, compiled from the checkout with the README's own command line (the
// header found as <socketserverd/socketserverd_plugin.h>, as installed), then served.
import Foundation
import SocketServer
import SocketServerTestSupport
import XCTest

final class ReadmePluginTests: PluginTestCase {
    func testTheReadmesCPluginBuildsWithItsCommandLineAndServes() throws {
        let sources = try readmeBlocks("c")
        XCTAssertEqual(sources.count, 1, "the README has one C plugin")
        let source = try XCTUnwrap(sources.first)
        XCTAssertTrue(source.contains("#include <socketserverd/socketserverd_plugin.h>"), source)
        let commands = try readmeCommands(startingWith: "cc ").filter { $0.contains(" -I ") }
        XCTAssertEqual(commands.count, 1, "the README's command line from the checkout: \(commands)")
        let command = try XCTUnwrap(commands.first)

        // Where the README's reader stands: the checkout (here its Sources), with upper.c in it.
        let checkout = directory + "/checkout"
        XCTAssertEqual(mkdir(checkout, 0o755), 0)
        XCTAssertEqual(symlink(repositoryRoot + "/Sources", checkout + "/Sources"), 0)
        _ = writeFile(source, to: checkout + "/upper.c", mode: 0o644)
        // `cc` as the README says; where the machine has only the toolchain's clang, under that name.
        let bin = directory + "/bin"
        XCTAssertEqual(mkdir(bin, 0o755), 0)
        XCTAssertEqual(symlink(PluginTestCase.compiler, bin + "/cc"), 0)
        let compiled = try runProgram("/bin/sh", ["-c", command], env: ["PATH=\(bin):/usr/bin:/bin"], in: checkout, limit: .seconds(60))
        XCTAssertEqual(compiled.status, 0, "\(command): \(compiled.output)")

        let temporary = pluginDirectory + "/.libupper.so.new"
        XCTAssertEqual(rename(checkout + "/libupper.so", temporary), 0)
        _ = try install(temporary, as: "libupper.so")
        let daemon = try startDaemon(pluginConfig([("upper", "libupper.so")], Service("up", handler: "upper.upper", ["workers": 1])))
        XCTAssertEqual(try ask(port: daemon.port("up"), "shout this\n"), "SHOUT THIS\n")
    }
}
