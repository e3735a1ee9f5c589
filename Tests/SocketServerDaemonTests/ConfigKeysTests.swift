// The key table: every default it shows parses to the default the loader uses, and
// `socketserverd --help-config` lists every key per section with its default and scope.
import Foundation
@testable import SocketServerDaemon
import SocketServerHandlers
import XCTest

final class ConfigKeysTests: XCTestCase {
    /// Every row's shown default parses back to the default its field starts from.
    func testEveryKeyParsesItsDefault() {
        XCTAssertEqual(ConfigKeys.defaultProblems(), [])
    }

    /// Written into a config, each default the table shows as a value loads, and a service that
    /// writes every such default is the service that writes none.
    func testDefaultsWrittenOutLoadAsTheDefaults() throws {
        let entries = ConfigKeys.entries()
        func written(_ section: KeySection, scope: KeyScope = .every) -> String {
            entries.filter { $0.section == section && $0.scope == scope }.compactMap { entry in
                guard case .value(let text) = entry.defaultValue else { return nil }
                return "\(entry.name) = \(text)\n"
            }.joined()
        }
        let daemon = written(.daemon)
        let service = written(.service)
        XCTAssertTrue(daemon.contains("graceful_timeout = 30\n"), daemon)
        XCTAssertTrue(service.contains("timeout = 30\n") && service.contains("max_requests = 0\n"), service)

        let bare = try XCTUnwrap(configLoaded(configService("e"), cpuCount: 3))
        let spelled = try XCTUnwrap(configLoaded("[daemon]\n" + daemon + configService("e", service), cpuCount: 3))
        XCTAssertEqual(spelled.gracefulTimeout, bare.gracefulTimeout)
        XCTAssertEqual(spelled.logLevel, bare.logLevel)
        XCTAssertEqual(spelled.services.map { withoutLocation($0) }, bare.services.map { withoutLocation($0) })

        let upload = written(.service, scope: .handlers(["upload"]))
        XCTAssertEqual(upload, "max_size = 104857600\n")
        let uploads = NSTemporaryDirectory()
        let options = try XCTUnwrap(configLoaded(configService("u", handler: "upload", "directory = \(uploads)\n" + upload),
                                                 catalog: DaemonCatalog()))
        let defaults = try XCTUnwrap(configLoaded(configService("u", handler: "upload", "directory = \(uploads)\n"),
                                                  catalog: DaemonCatalog()))
        XCTAssertEqual(options.services.first?.options, defaults.services.first?.options)
    }

    /// Every key, once, under its section's header, in the table's order.
    func testHelpConfigListsEveryKeyPerSection() {
        let help = ConfigHelp.text()
        let lines = help.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        XCTAssertTrue(help.contains("socketserverd.conf(5)"), "help points to the man page")
        var section: KeySection? = nil
        var listed: [(KeySection, String)] = []
        for line in lines {
            if let header = KeySection.allCases.first(where: { $0.header == line }) { section = header; continue }
            guard let section, line.hasPrefix("  "), !line.hasPrefix("   "), !line.hasPrefix("  (") else { continue }
            let name = line.dropFirst(2).prefix { $0 != " " }
            listed.append((section, String(name)))
        }
        let table = ConfigKeys.entries()
        XCTAssertEqual(listed.map { "\($0.0) \($0.1)" }, table.map { "\($0.section) \($0.name)" })
        XCTAssertEqual(Set(table.filter { $0.section == .service }.map(\.name)).count,
                       table.filter { $0.section == .service }.count, "a key is listed once")
    }

    /// What a user reads for a key: its default (a value or words), what it applies to, its doc.
    func testHelpConfigShowsDefaultScopeAndDoc() {
        let lines = ConfigHelp.text().split(separator: "\n").map(String.init)
        func after(_ heading: String) -> String? {
            guard let index = lines.firstIndex(of: "  " + heading), index + 1 < lines.count else { return nil }
            return lines[index + 1]
        }
        XCTAssertEqual(after("timeout = 30")?.hasPrefix("      idle seconds before a silent client is closed"), true)
        XCTAssertEqual(after("request_timeout = 0")?.contains("0 = no limit"), true)
        XCTAssertNotNil(after("max_requests = 0"))
        XCTAssertNotNil(after("graceful_timeout = 30"))
        XCTAssertNotNil(after("user = nobody"))
        XCTAssertNotNil(after("workers (default: the number of online CPUs)"))
        XCTAssertNotNil(after("listen (required)"))
        XCTAssertNotNil(after("allow (default: everyone) [for tcp:// and udp:// listeners]"))
        XCTAssertNotNil(after("socket_mode (default: from the umask) [for unix: and unixgram: listeners]"))
        XCTAssertNotNil(after("directory (default: required for upload, / for exec, / for program) [for handlers upload, exec and program]"))
        XCTAssertNotNil(after("max_size = 104857600 [for handler upload]"))
        XCTAssertNotNil(after("command (required) [for handlers exec and program]"))
        XCTAssertNotNil(after("ready = started [for handler program]"))
        XCTAssertNotNil(after("path (required)"))
        for entry in ConfigKeys.entries() {
            XCTAssertFalse(entry.doc.isEmpty, "\(entry.name) has no documentation")
        }
    }

    private func withoutLocation(_ service: ServiceConfig) -> ServiceConfig {
        var copy = service
        copy.location = SourceLocation(file: "", line: 0)
        return copy
    }
}
