// The supervisor's decisions for program workers, with a made-up clock: start_timeout, the old
// generation waiting for the new one however long, and a program that exits at once backing off.
@testable import SocketServerDaemon
import XCTest

final class ProgramSupervisorTests: SupervisorTestCase {
    let traits = ProgramTraits(stopSignal: SIGQUIT, startTimeout: .seconds(5))
    override var startedProgram: ProgramTraits? { traits }

    func demand(wanted: Int = 1) -> ServiceDemand { ServiceDemand(name: "app", wanted: wanted, startTimeout: traits.startTimeout) }

    func testAProgramNeverReadyIsKilledAtStartTimeoutWhileTheOldGenerationServes() throws {
        var supervisor = Supervisor(now: t0)
        supervisor.begin(generation: 1, demands: [demand()], gracefulTimeout: .seconds(5), now: t0)
        step(&supervisor, at: 0)
        let old = pids(supervisor, generation: 1)
        step(&supervisor, at: 0.5, Observations(ready: Set(old)))
        supervisor.begin(generation: 2, demands: [demand()], gracefulTimeout: .seconds(5), now: at(1))
        step(&supervisor, at: 1)
        let new = try XCTUnwrap(pids(supervisor, generation: 2).first)
        XCTAssertEqual(supervisor.nextDue(now: at(1)), at(6), "the master wakes at the new program's start_timeout")
        XCTAssertEqual(step(&supervisor, at: 5.9), [])
        XCTAssertEqual(step(&supervisor, at: 6), [.kill(pid: new, service: "app", reason: .notReady(limit: .seconds(5)))])
        guard case .crashed(let delay, _, _)? = supervisor.workerExited(pid: new, status: 9, failedAtStart: false, now: at(6.1))?.1
        else { return XCTFail("a program killed at start_timeout is a failure") }
        XCTAssertEqual(delay, .milliseconds(100), "it is started again with the back-off")
        // Far past the generation's 30 s start window, the old program still serves.
        for second in stride(from: 7.0, through: 60, by: 0.5) {
            let actions = step(&supervisor, at: second)
            XCTAssertFalse(actions.contains { if case .retire = $0 { return true } else { return false } }, "retired at \(second)")
            for case .kill(let pid, _, _) in actions { _ = supervisor.workerExited(pid: pid, status: 9, failedAtStart: false, now: at(second)) }
        }
        XCTAssertEqual(pids(supervisor, generation: 1), old)
        // Once a new one is ready, the old one retires.
        var clock = 60.0
        while pids(supervisor, generation: 2).isEmpty && clock < 200 {
            clock += 1
            step(&supervisor, at: clock)
        }
        let ready = try XCTUnwrap(pids(supervisor, generation: 2).last)
        XCTAssertEqual(step(&supervisor, at: clock + 0.5, Observations(ready: [ready])), [.retire(pid: old[0], service: "app", reason: .oldGeneration)])
    }

    func testAProgramThatExitsAtOnceBacksOffEvenWithStatusZero() {
        var supervisor = Supervisor(now: t0)
        supervisor.begin(generation: 1, demands: [demand()], gracefulTimeout: .seconds(5), now: t0)
        step(&supervisor, at: 0)
        assertBacksOff(&supervisor, status: 0, delays: [100, 200, 400, 800], from: 0.05, lifetime: 0.05,
                       "exiting unasked is a failure for a program")
    }

    func testAReadyProgramIsNotKilled() {
        var supervisor = Supervisor(now: t0)
        supervisor.begin(generation: 1, demands: [demand(wanted: 2)], gracefulTimeout: .seconds(5), now: t0)
        step(&supervisor, at: 0)
        let all = pids(supervisor, generation: 1)
        step(&supervisor, at: 1, Observations(ready: Set(all)))
        XCTAssertEqual(step(&supervisor, at: 100), [])
        XCTAssertNil(supervisor.nextDue(now: at(100)), "nothing is due: no poll while programs serve")
    }
}
