// Process titles: ps (/proc/PID/cmdline) tells the master and each worker apart, while the process
// name (/proc/PID/comm, what pgrep matches) stays "socketserverd".
import Foundation
import SocketServer
import SocketServerTestSupport
import XCTest

final class ProcessTitleTests: DaemonTestCase {
    func testMasterAndWorkersShowTheirRoleAndGeneration() throws {
        let daemon = try startDaemon(service: Service("echo", ["workers": 2]))
        XCTAssertEqual(commandLine(of: daemon.pid), "socketserverd: master --config \(configPath)")
        XCTAssertEqual(processName(of: daemon.pid), "socketserverd")
        let first = try waitForWorkers(of: daemon, titled: "socketserverd: worker echo (generation 1)", count: 2)
        for worker in first { XCTAssertEqual(processName(of: worker), "socketserverd") }
        XCTAssertEqual(try tcpRoundTrip(port: daemon.port), "hello\n")

        // The title takes the room of the argument strings only: the environment block the master
        // was started with (and re-executed itself with, adding SWIFT_BACKTRACE) reads as before.
        let environment = nulSeparated(readBytes("/proc/\(daemon.pid)/environ") ?? [])
        XCTAssertTrue(environment.contains("SWIFT_BACKTRACE=enable=no"), "\(environment)")
        XCTAssertTrue(environment.contains("NOTIFY_SOCKET=\(daemon.notify.displayPath)"), "\(environment)")

        daemon.signal(SIGHUP)
        XCTAssertNotNil(daemon.waitForStatus("generation 2"), daemon.log)
        XCTAssertTrue(daemon.log.contains("reloaded: generation 2"), daemon.log)
        let second = try waitForWorkers(of: daemon, titled: "socketserverd: worker echo (generation 2)", count: 2)
        XCTAssertTrue(Set(second).isDisjoint(with: first), "generation 2 workers \(second), generation 1 \(first)")
        XCTAssertEqual(commandLine(of: daemon.pid), "socketserverd: master --config \(configPath)")
        XCTAssertEqual(try tcpRoundTrip(port: daemon.port), "hello\n")
    }

    /// The binary upgrade re-executes the master with its original arguments (not its title): the
    /// new image shows the same master title, the workers it starts the next generation.
    func testTitlesSurviveABinaryUpgrade() throws {
        let daemon = try startDaemon(service: Service("echo", ["workers": 1]), daemon: ["graceful_timeout": 5])
        let title = "socketserverd: master --config \(configPath)"
        XCTAssertEqual(commandLine(of: daemon.pid), title)
        let first = try waitForWorkers(of: daemon, titled: "socketserverd: worker echo (generation 1)", count: 1)
        _ = daemon.notifications(timeout: .zero)
        daemon.signal(SIGUSR2)
        try daemon.waitReady()
        XCTAssertTrue(daemon.waitForLog("upgraded: socketserverd"), daemon.log)
        XCTAssertEqual(commandLine(of: daemon.pid), title)
        let second = try waitForWorkers(of: daemon, titled: "socketserverd: worker echo (generation 2)", count: 1)
        XCTAssertNotEqual(second, first)
        XCTAssertEqual(try tcpRoundTrip(port: daemon.port), "hello\n")
    }

    /// A title longer than the argument strings runs on into the environment strings, and the
    /// kernel shows it whole.
    func testATitleLongerThanTheArgumentsShowsWhole() throws {
        let arguments = DaemonProcess.binaryPath.utf8.count + 1 + "--config".count + 1 + configPath.utf8.count + 1
        let fixed = "socketserverd: worker  (generation 1)".count
        let name = String(repeating: "n", count: arguments - fixed + 10)
        let title = "socketserverd: worker \(name) (generation 1)"
        XCTAssertGreaterThan(title.utf8.count, arguments)
        let daemon = try startDaemon(service: Service(name, handler: "echo", ["workers": 1]))
        _ = try waitForWorkers(of: daemon, titled: title, count: 1)
        XCTAssertEqual(try tcpRoundTrip(port: daemon.port), "hello\n")
    }

    /// Waits until `count` children of the master show `title`; returns their pids.
    func waitForWorkers(of daemon: DaemonProcess, titled title: String, count: Int, within limit: Duration = .seconds(15),
                        file: StaticString = #filePath, line: UInt = #line) throws -> [pid_t] {
        var seen: [pid_t: String] = [:]
        let matching = pollValue(within: limit, every: .milliseconds(10)) { () -> [pid_t]? in
            seen = Dictionary(uniqueKeysWithValues: daemon.workerPIDs().map { ($0, commandLine(of: $0)) })
            let matching = seen.filter { $0.value == title }.keys.sorted()
            return matching.count == count ? matching : nil
        }
        guard let matching else {
            XCTFail("no \(count) workers titled '\(title)'; children: \(seen)\n\(daemon.log)", file: file, line: line)
            throw TestFailure.timeout("workers titled \(title)")
        }
        return matching
    }
}
