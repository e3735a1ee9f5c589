// Process titles: ps (/proc/PID/cmdline) tells the master and each worker apart, while the process
// name (/proc/PID/comm, what pgrep matches) stays "socketserverd".
import Foundation
import SocketServer
import XCTest

final class ProcessTitleTests: DaemonTestCase {
    func testMasterAndWorkersShowTheirRoleAndGeneration() throws {
        let port = freePort()
        let daemon = try startDaemon("""
            [service echo]
            listen = tcp://127.0.0.1:\(port)
            handler = echo
            workers = 2
            """)
        let configPath = configDirectory + "/socketserverd.conf"
        XCTAssertEqual(Self.commandLine(of: daemon.pid), "socketserverd: master --config \(configPath)")
        XCTAssertEqual(Self.processName(of: daemon.pid), "socketserverd")
        let first = try waitForWorkers(of: daemon, titled: "socketserverd: worker echo (generation 1)", count: 2)
        for worker in first { XCTAssertEqual(Self.processName(of: worker), "socketserverd") }
        XCTAssertEqual(try tcpRoundTrip(port: port), "hello\n")

        // The title takes the room of the argument strings only: the environment block the master
        // was started with (and re-executed itself with, adding SWIFT_BACKTRACE) reads as before.
        let environment = Self.strings(try Data(contentsOf: URL(fileURLWithPath: "/proc/\(daemon.pid)/environ")))
        XCTAssertTrue(environment.contains("SWIFT_BACKTRACE=enable=no"), "\(environment)")
        XCTAssertTrue(environment.contains("NOTIFY_SOCKET=\(daemon.notify.displayPath)"), "\(environment)")

        daemon.signal(SIGHUP)
        XCTAssertTrue(daemon.waitForLog("reloaded: generation 2"), daemon.log)
        let second = try waitForWorkers(of: daemon, titled: "socketserverd: worker echo (generation 2)", count: 2)
        XCTAssertTrue(Set(second).isDisjoint(with: first), "generation 2 workers \(second), generation 1 \(first)")
        XCTAssertEqual(Self.commandLine(of: daemon.pid), "socketserverd: master --config \(configPath)")
        XCTAssertEqual(try tcpRoundTrip(port: port), "hello\n")
    }

    /// The binary upgrade re-executes the master with its original arguments (not its title): the
    /// new image shows the same master title, the workers it starts the next generation.
    func testTitlesSurviveABinaryUpgrade() throws {
        let port = freePort()
        let daemon = try startDaemon("""
            [daemon]
            graceful_timeout = 5
            [service echo]
            listen = tcp://127.0.0.1:\(port)
            handler = echo
            workers = 1
            """)
        let title = "socketserverd: master --config \(configDirectory)/socketserverd.conf"
        XCTAssertEqual(Self.commandLine(of: daemon.pid), title)
        let first = try waitForWorkers(of: daemon, titled: "socketserverd: worker echo (generation 1)", count: 1)
        _ = daemon.notifications(timeout: 0)
        daemon.signal(SIGUSR2)
        try daemon.waitReady()
        XCTAssertTrue(daemon.waitForLog("upgraded: socketserverd"), daemon.log)
        XCTAssertEqual(Self.commandLine(of: daemon.pid), title)
        let second = try waitForWorkers(of: daemon, titled: "socketserverd: worker echo (generation 2)", count: 1)
        XCTAssertNotEqual(second, first)
        XCTAssertEqual(try tcpRoundTrip(port: port), "hello\n")
    }

    /// A title longer than the argument strings runs on into the environment strings, and the
    /// kernel shows it whole.
    func testATitleLongerThanTheArgumentsShowsWhole() throws {
        let port = freePort()
        let configPath = configDirectory + "/socketserverd.conf"
        let arguments = DaemonProcess.binaryPath.utf8.count + 1 + "--config".count + 1 + configPath.utf8.count + 1
        let fixed = "socketserverd: worker  (generation 1)".count
        let name = String(repeating: "n", count: arguments - fixed + 10)
        let title = "socketserverd: worker \(name) (generation 1)"
        XCTAssertGreaterThan(title.utf8.count, arguments)
        let daemon = try startDaemon("""
            [service \(name)]
            listen = tcp://127.0.0.1:\(port)
            handler = echo
            workers = 1
            """)
        _ = try waitForWorkers(of: daemon, titled: title, count: 1)
        XCTAssertEqual(try tcpRoundTrip(port: port), "hello\n")
    }

    // MARK: - Helpers

    /// Waits until `count` children of the master show `title`; returns their pids.
    func waitForWorkers(of daemon: DaemonProcess, titled title: String, count: Int, timeout: TimeInterval = 15,
                        file: StaticString = #filePath, line: UInt = #line) throws -> [pid_t] {
        let deadline = Date().addingTimeInterval(timeout)
        var seen: [pid_t: String] = [:]
        while Date() < deadline {
            seen = Dictionary(uniqueKeysWithValues: daemon.workerPIDs().map { ($0, Self.commandLine(of: $0)) })
            let matching = seen.filter { $0.value == title }.keys.sorted()
            if matching.count == count { return matching }
            usleep(10_000)
        }
        XCTFail("no \(count) workers titled '\(title)'; children: \(seen)\n\(daemon.log)", file: file, line: line)
        throw TestFailure.timeout("workers titled \(title)")
    }

    /// /proc/PID/cmdline as ps shows it: the NUL-separated strings joined by spaces, trailing NULs dropped.
    static func commandLine(of pid: pid_t) -> String {
        guard let data = try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline")) else { return "" }
        return strings(data).joined(separator: " ")
    }

    /// /proc/PID/comm without its newline.
    static func processName(of pid: pid_t) -> String {
        let text = (try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8)) ?? ""
        return text.trimmingCharacters(in: .newlines)
    }

    /// The NUL-terminated strings in `data`, empty ones (padding) left out.
    static func strings(_ data: Data) -> [String] {
        data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
    }
}
