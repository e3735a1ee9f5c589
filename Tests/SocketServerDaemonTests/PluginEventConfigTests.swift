// concurrency = events with plugin handlers, through stand-in loaders: an event-kind handler
// passes, a blocking one is refused at the concurrency line, the master (deferred) leaves the
// verdict to the process that loads the plugin; and the ABI version's encoding.
import SocketServer
@testable import SocketServerDaemon
import SocketServerHandlers
import XCTest

final class PluginEventConfigTests: XCTestCase {
    private final class Events: EventStreamHandler {
        init(clientAddress: SocketAddress, server: BaseServer) {}
        func received(_ bytes: UnsafeRawBufferPointer, output: inout [UInt8]) throws -> Bool { true }
    }

    private let loader = TablePluginLoader(table: ["ev": .loaded([
        HandlerDescriptor(name: "echo", stream: StreamRequestHandler.self, datagram: nil, events: Events.self),
        HandlerDescriptor(name: "blocking", stream: StreamRequestHandler.self, datagram: nil),
    ])])

    private func config(_ handler: String) -> String {
        """
        [plugin ev]
        path = /p/libev.so
        [service s]
        listen = tcp://127.0.0.1:7000
        handler = \(handler)
        concurrency = events
        """
    }

    private func errors(_ text: String, loader: any PluginLoader) -> [String] {
        do {
            _ = try ConfigLoader.parse(text: text, file: "main.conf", catalog: ConfigTestCatalog(), plugins: loader, cpuCount: 2)
            return []
        } catch {
            return error.errors.map(\.description)
        }
    }

    func testEventKindPluginHandlersServeEventsAndBlockingOnesAreRefusedAtTheConcurrencyLine() {
        XCTAssertEqual(errors(config("ev.echo"), loader: loader), [])
        let refused = errors(config("ev.blocking"), loader: loader)
        XCTAssertEqual(refused.count, 1, "\(refused)")
        XCTAssertTrue(refused.first?.hasPrefix("main.conf:6: plugin handler 'ev.blocking' has no event callbacks") ?? false,
                      "\(refused)")
    }

    func testTheMasterLeavesTheEventsVerdictToTheLoadingProcess() {
        XCTAssertEqual(errors(config("ev.blocking"), loader: TablePluginLoader(table: ["ev": .deferred])), [])
    }

    func testABIVersionsKeepABI10sValueAndLoadOnlyKnownMinors() {
        XCTAssertEqual(PluginABIVersion(1), PluginABIVersion(major: 1, minor: 0))
        XCTAssertEqual(PluginABIVersion(0x1_0001), PluginABIVersion(major: 1, minor: 1))
        XCTAssertEqual(PluginABIVersion.daemon.raw, 0x1_0001)
        XCTAssertTrue(PluginABIVersion(1).isLoadable)
        XCTAssertTrue(PluginABIVersion(0x1_0001).isLoadable)
        XCTAssertFalse(PluginABIVersion(0x2_0001).isLoadable, "a newer minor")
        XCTAssertFalse(PluginABIVersion(2).isLoadable, "another major")
        XCTAssertEqual(PluginABIVersion(1).handlerStride, 56)
        XCTAssertEqual(PluginABIVersion(0x1_0001).handlerStride, 64)
    }
}
