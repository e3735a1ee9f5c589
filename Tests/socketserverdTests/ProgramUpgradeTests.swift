// Program workers across a binary upgrade (SIGUSR2), and a program that cannot be executed.
import Foundation
import SocketServer
import SocketServerTestSupport
import XCTest

final class ProgramUpgradeTests: DaemonTestCase {
    /// The new image takes the old programs over (their stop signal, output and notifications),
    /// starts new ones, and retires the old ones once the new ones are ready; no request fails.
    func testAnUpgradeReplacesTheProgramsWithoutAFailedRequest() throws {
        let binary = makeDirectory("bin", mode: 0o755) + "/socketserverd"
        try FileManager.default.copyItem(atPath: DaemonProcess.binaryPath, toPath: binary)
        chmod(binary, 0o755)
        let program = testProgram("activation_echo.py")
        let daemon = try startDaemon(DaemonConfigBuilder(daemon: ["graceful_timeout": 5], services: [
            programService(command: program, workers: 2, [("ready", "notify"), ("stop_signal", "INT")]),
        ]), binary: binary)
        XCTAssertTrue(daemon.waitForLog("is ready (READY=1)", count: 2), daemon.log)
        let old = daemon.workerPIDs()
        let loop = ClientLoop(port: daemon.port)
        loop.waitForSuccesses(20)
        _ = daemon.notifications(timeout: .zero)
        daemon.signal(SIGUSR2)
        try daemon.waitReady()
        XCTAssertTrue(daemon.waitForLog("upgraded: socketserverd"), daemon.log)
        XCTAssertTrue(daemon.waitGone(old, within: .seconds(10)), daemon.log)
        for pid in old {
            // INT, the old programs' stop_signal, ended them (Python's default: KeyboardInterrupt, and
            // the interpreter ends itself by SIGINT); their last output reached the new image's log.
            XCTAssertTrue(daemon.log.contains("worker \(pid) (service app) was killed by SIGINT"), daemon.log)
            XCTAssertTrue(daemon.log.contains("service app: program \(pid): KeyboardInterrupt"), daemon.log)
            XCTAssertFalse(daemon.log.contains("worker \(pid) (service app) still running after its deadline"), daemon.log)
        }
        loop.waitForSuccesses(20)
        let (successes, failures) = loop.stop()
        XCTAssertEqual(failures, [], "client loop failures during the upgrade")
        XCTAssertGreaterThan(successes, 40)
        XCTAssertEqual(daemon.workerPIDs().count, 2)
        daemon.signal(SIGTERM)
        XCTAssertEqual(daemon.waitExit(), 0, daemon.log)
    }

    func testAProgramThatCannotBeExecutedIsReportedAndBacksOff() throws {
        let program = script("broken.sh", "#!/nonexistent/interpreter\n")
        let daemon = try startDaemon(service: programService(command: program, workers: 1))
        XCTAssertTrue(daemon.waitForLog("cannot start: execve \(program): No such file or directory", count: 3), daemon.log)
        XCTAssertTrue(daemon.waitForLog("3 failures in a row, next start in 0.4 seconds"), daemon.log)
        XCTAssertNil(daemon.reapIfExited())
    }
}
