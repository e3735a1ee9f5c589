// The control socket's request lines, the JSON `status --json` writes, and how the report shows
// ages and settings, without a running daemon.
@testable import SocketServerDaemon
import Foundation
import XCTest

final class ControlProtocolTests: XCTestCase {
    func testRequestLinesReadBackAsTheyWereWritten() {
        for request: ControlRequest in [.status(json: false), .status(json: true), .scale(service: "echo", workers: 4),
                                        .scale(service: "a service with spaces", workers: 1)] {
            XCTAssertEqual(ControlRequest(line: request.line), request, request.line)
        }
        for bad in ["", "status yaml", "status json extra", "scale", "scale 3", "scale x echo", "scale 3 ", "STATUS", "reboot now"] {
            XCTAssertNil(ControlRequest(line: bad), bad)
        }
    }

    func testJSONTextIsParsedBackByFoundation() throws {
        let tricky = "quote \" backslash \\ newline \n tab \t nul \u{0} del \u{7f} é ✓ 𝄞"
        let value = JSONValue.object([
            ("text", .string(tricky)), ("n", .integer(-42)), ("big", .integer(Int64.max)), ("yes", .bool(true)), ("none", .null),
            ("list", .array([.integer(1), .object([]), .array([])])),
        ])
        let parsed = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(value.text.utf8)) as? [String: Any])
        XCTAssertEqual(parsed["text"] as? String, tricky)
        XCTAssertEqual(parsed["n"] as? Int, -42)
        XCTAssertEqual(parsed["big"] as? Int64, Int64.max)
        XCTAssertEqual(parsed["yes"] as? Bool, true)
        XCTAssertTrue(parsed["none"] is NSNull)
        XCTAssertEqual((parsed["list"] as? [Any])?.count, 3)
        XCTAssertFalse(value.text.contains("\n"), "one line")
        XCTAssertTrue(value.text.hasPrefix(#"{"text":"#), "keys in the order given")
    }

    func testAgesShowTwoUnitsAtMost() {
        XCTAssertEqual(StatusReport.age(0), "0s")
        XCTAssertEqual(StatusReport.age(59), "59s")
        XCTAssertEqual(StatusReport.age(61), "1m01s")
        XCTAssertEqual(StatusReport.age(3600 + 120 + 5), "1h02m")
        XCTAssertEqual(StatusReport.age(2 * 86400 + 3 * 3600 + 59), "2d03h")
    }

    func testTheAutomaticSocketIsInTheFirstRuntimeDirectory() {
        XCTAssertEqual(ControlSocketSetting.automatic.path(runtimeDirectory: "/run/socketserverd"), "/run/socketserverd/control.sock")
        XCTAssertEqual(ControlSocketSetting.automatic.path(runtimeDirectory: "/run/a/:/run/b"), "/run/a/control.sock")
        XCTAssertNil(ControlSocketSetting.automatic.path(runtimeDirectory: nil))
        XCTAssertNil(ControlSocketSetting.automatic.path(runtimeDirectory: "relative"))
        XCTAssertNil(ControlSocketSetting.off.path(runtimeDirectory: "/run/x"))
        XCTAssertEqual(ControlSocketSetting.path("/srv/c.sock").path(runtimeDirectory: "/run/x"), "/srv/c.sock")
    }

    func testControlSocketTakesOffOrAnAbsolutePathThatFitsAUnixAddress() {
        let service = "[service echo]\nlisten = tcp://127.0.0.1:7\nhandler = echo\n"
        XCTAssertEqual(configLoaded(service)?.controlSocket, .automatic)
        XCTAssertEqual(configLoaded("[daemon]\ncontrol_socket = off\n" + service)?.controlSocket, .off)
        XCTAssertEqual(configLoaded("[daemon]\ncontrol_socket = /run/x/c.sock\n" + service)?.controlSocket, .path("/run/x/c.sock"))
        assertConfigErrors("[daemon]\ncontrol_socket = c.sock\n" + service,
                           ["main.conf:2: control_socket must be an absolute path, got 'c.sock'"])
        assertConfigErrors("[daemon]\ncontrol_socket = /run/x/c.sock\n[service u]\nlisten = unix:/run/x/c.sock\nhandler = echo\n",
                           ["main.conf:4: listen unix:/run/x/c.sock is the path of [daemon] control_socket"])
        let long = "/" + String(repeating: "d", count: 120)
        XCTAssertEqual(configErrors("[daemon]\ncontrol_socket = \(long)\n" + service),
                       ["main.conf:2: control_socket: unix socket path is 121 bytes, longer than the kernel's limit of 107: \(long)"])
    }
}
