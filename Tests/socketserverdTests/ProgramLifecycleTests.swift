// Program workers under supervision: back-off, start_timeout, reloads without a failed request,
// graceful and forced stops.
import Foundation
import SocketServer
import SocketServerTestSupport
import XCTest

final class ProgramLifecycleTests: DaemonTestCase {
    func testAProgramThatExitsAtOnceBacksOffWithoutSpinning() throws {
        let started = ContinuousClock.now
        let daemon = try startDaemon(service: programService(command: "/bin/sh -c 'echo bye; exit 0'", workers: 1))
        // Failures 1 to 4 wait 0.1, 0.2 and 0.4 s before the next start: the fourth start comes
        // 0.7 s after the first at the earliest.
        XCTAssertTrue(daemon.waitForLog("4 failures in a row, next start in 0.8 seconds"), daemon.log)
        XCTAssertGreaterThanOrEqual(started.duration(to: .now), .milliseconds(700))
        XCTAssertEqual(daemon.startsLogged(service: "app"), 4, daemon.log)
        XCTAssertTrue(daemon.log.contains("service app: program "), "its output is logged")
        XCTAssertNil(daemon.reapIfExited(), "the master keeps running")
    }

    func testAProgramNeverReadyIsKilledAtStartTimeoutWhileTheOldGenerationServes() throws {
        let program = testProgram("activation_echo.py")
        let good = programService(command: program, workers: 1, [("ready", "notify"), ("start_timeout", "1")])
        var silent = good
        silent.keys.append(("environment", "NO_READY=1"))
        let config = DaemonConfigBuilder(daemon: ["graceful_timeout": 5], services: [good])
        let daemon = try startDaemon(config)
        XCTAssertTrue(daemon.waitForLog("is ready (READY=1)"), daemon.log)
        let old = try answeringPIDs(port: daemon.port, wanted: 1)

        let loop = ClientLoop(port: daemon.port)
        loop.waitForSuccesses(20)
        try rewriteConfig(DaemonConfigBuilder(daemon: ["graceful_timeout": 5], services: [silent]), for: daemon)
        daemon.signal(SIGHUP)
        XCTAssertTrue(daemon.waitForLog("not ready after start_timeout 1.0 seconds; killing it", count: 2, within: .seconds(20)),
                      daemon.log)
        // The line comes when the master reaps the second one, just after it killed it.
        XCTAssertTrue(daemon.waitForLog("failures in a row, next start in"), "retried with the back-off:\n\(daemon.log)")
        loop.waitForSuccesses(20)
        XCTAssertEqual(try answeringPIDs(port: daemon.port, wanted: 2, attempts: 20), old, "only the old program serves")

        // A config whose program becomes ready replaces the old generation.
        try rewriteConfig(config, for: daemon)
        daemon.signal(SIGHUP)
        XCTAssertTrue(daemon.waitGone(Array(old), within: .seconds(15)), daemon.log)
        loop.waitForSuccesses(20)
        let (successes, failures) = loop.stop()
        XCTAssertEqual(failures, [], "client loop failures")
        XCTAssertGreaterThan(successes, 60)
        XCTAssertNotEqual(try answeringPIDs(port: daemon.port, wanted: 1), old)
    }

    func testReloadsWithAClientLoopFailNothing() throws {
        let daemon = try startEchoPrograms(workers: 2, [("ready", "notify")], gracefulTimeout: 5)
        let loop = ClientLoop(port: daemon.port)
        loop.waitForSuccesses(20)
        var generations: [Set<pid_t>] = [Set(daemon.workerPIDs())]
        for round in 2...4 {
            daemon.signal(SIGHUP)
            XCTAssertNotNil(daemon.waitForStatus("generation \(round)"), daemon.log)
            XCTAssertTrue(daemon.waitGone(Array(generations.last ?? []), within: .seconds(10)), daemon.log)
            XCTAssertTrue(daemon.waitForWorkers(2), daemon.log)
            generations.append(Set(daemon.workerPIDs()))
            loop.waitForSuccesses(20)
        }
        let (successes, failures) = loop.stop()
        XCTAssertEqual(failures, [], "client loop failures during reloads")
        XCTAssertGreaterThan(successes, 80)
        XCTAssertEqual(Set(generations.flatMap { $0 }).count, 8, "every HUP starts a new generation of programs")
        XCTAssertTrue(daemon.log.contains("was killed by SIGTERM") || daemon.log.contains("exited with status 0"), daemon.log)
    }

    func testTERMLetsAnInFlightRequestFinish() throws {
        let daemon = try startEchoPrograms(workers: 1, [("ready", "notify")], gracefulTimeout: 10)
        XCTAssertTrue(daemon.waitForLog("is ready (READY=1)"), daemon.log)
        let client = try connectTCP(port: daemon.port)
        try client.sendAll("slow\n")
        XCTAssertTrue(eventually { descriptorCount(daemon.workerPIDs().first ?? 0) > 4 }, "the program took the connection")
        let stopping = daemon.beginGracefulStop()
        XCTAssertTrue(stopping.last?.contains("STOPPING=1") == true, "\(stopping)")
        XCTAssertEqual(try readLine(client), "slow done\n", "the request in flight finishes")
        client.close()
        XCTAssertEqual(daemon.waitExit(), 0, daemon.log)
        XCTAssertTrue(daemon.log.contains(": stopped\n"), "the program finished by itself:\n\(daemon.log)")
        XCTAssertFalse(daemon.log.contains("still running after its deadline"), daemon.log)
    }

    func testAStopThatHasToKillAProgramStillExitsZero() throws {
        let daemon = try startEchoPrograms(workers: 2, [("environment", "IGNORE_TERM=1")], gracefulTimeout: 1)
        XCTAssertTrue(daemon.waitForLog("as pid", count: 2), daemon.log)
        let workers = daemon.workerPIDs()
        daemon.signal(SIGTERM)
        XCTAssertEqual(daemon.waitExit(), 0, daemon.log)
        for pid in workers {
            XCTAssertTrue(daemon.log.contains("worker \(pid) (service app) still running after its deadline; killing it"), daemon.log)
        }
    }

    func testAStopSignalOtherThanTERMIsSent() throws {
        let daemon = try startDaemon(service: programService(
            command: "/bin/sh -c 'trap \"echo got INT; exit 0\" INT; echo waiting; while :; do sleep 0.05; done'", workers: 1,
            [("stop_signal", "INT")]), daemon: ["graceful_timeout": 10])
        XCTAssertTrue(daemon.waitForLog("waiting"), daemon.log)
        daemon.signal(SIGTERM)
        XCTAssertEqual(daemon.waitExit(), 0, daemon.log)
        XCTAssertTrue(daemon.log.contains("got INT"), daemon.log)
        XCTAssertFalse(daemon.log.contains("still running after its deadline"), daemon.log)
    }

    func testTTINAndTTOUChangeHowManyProgramsRun() throws {
        let daemon = try startEchoPrograms(workers: 1, gracefulTimeout: 5)
        XCTAssertTrue(daemon.waitForWorkers(1), daemon.log)
        daemon.signal(SIGTTIN)
        XCTAssertTrue(daemon.waitForWorkers(2), daemon.log)
        XCTAssertEqual(try answeringPIDs(port: daemon.port, wanted: 2).count, 2)
        daemon.signal(SIGTTOU)
        XCTAssertTrue(daemon.waitForWorkers(1), daemon.log)
    }
}
