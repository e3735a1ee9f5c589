// The supervisor's decisions for program workers, with a made-up clock: start_timeout, the old
// generation waiting for the new one however long, and a program that exits at once backing off.
@testable import SocketServerDaemon
import XCTest

final class ProgramSupervisorTests: XCTestCase {
    let t0 = ContinuousClock.now
    var nextPID: pid_t = 100
    let traits = ProgramTraits(stopSignal: SIGQUIT, startTimeout: .seconds(5))

    func at(_ seconds: Double) -> ContinuousClock.Instant { t0.advanced(by: .milliseconds(Int(seconds * 1000))) }

    func demand(wanted: Int = 1) -> ServiceDemand { ServiceDemand(name: "app", wanted: wanted, startTimeout: traits.startTimeout) }

    /// Carries out the starts as the master would (a program worker per start); returns the rest.
    @discardableResult
    func step(_ supervisor: inout Supervisor, at seconds: Double, ready: Set<pid_t> = []) -> [SupervisorAction] {
        let actions = supervisor.decide(now: at(seconds), observing: Observations(ready: ready))
        for case .start(let service) in actions {
            nextPID += 1
            var record = WorkerRecord(pid: nextPID, service: service, generation: supervisor.generation, started: at(seconds))
            record.program = traits
            supervisor.workers.add(record)
        }
        return actions.filter { if case .start = $0 { return false } else { return true } }
    }

    func pids(_ supervisor: Supervisor, generation: Int) -> [pid_t] {
        supervisor.workers.records.values.filter { $0.generation == generation }.map(\.pid).sorted()
    }

    func testAProgramNeverReadyIsKilledAtStartTimeoutWhileTheOldGenerationServes() throws {
        var supervisor = Supervisor(now: t0)
        supervisor.begin(generation: 1, demands: [demand()], gracefulTimeout: .seconds(5), now: t0)
        step(&supervisor, at: 0)
        let old = pids(supervisor, generation: 1)
        step(&supervisor, at: 0.5, ready: Set(old))
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
        XCTAssertEqual(step(&supervisor, at: clock + 0.5, ready: [ready]), [.retire(pid: old[0], service: "app", reason: .oldGeneration)])
    }

    func testAProgramThatExitsAtOnceBacksOffEvenWithStatusZero() {
        var supervisor = Supervisor(now: t0)
        supervisor.begin(generation: 1, demands: [demand()], gracefulTimeout: .seconds(5), now: t0)
        step(&supervisor, at: 0)
        var clock = 0.05
        for expected in [100, 200, 400, 800] {
            let pid = pids(supervisor, generation: 1)[0]
            guard case .crashed(let delay, _, _)? = supervisor.workerExited(pid: pid, status: 0, failedAtStart: false, now: at(clock))?.1
            else { return XCTFail("exiting unasked is a failure for a program") }
            XCTAssertEqual(delay, .milliseconds(expected))
            XCTAssertEqual(step(&supervisor, at: clock), [])
            XCTAssertTrue(pids(supervisor, generation: 1).isEmpty, "nothing starts inside the back-off")
            clock += Double(expected) / 1000
            step(&supervisor, at: clock)
            clock += 0.05
        }
    }

    func testAReadyProgramIsNotKilled() {
        var supervisor = Supervisor(now: t0)
        supervisor.begin(generation: 1, demands: [demand(wanted: 2)], gracefulTimeout: .seconds(5), now: t0)
        step(&supervisor, at: 0)
        let all = pids(supervisor, generation: 1)
        step(&supervisor, at: 1, ready: Set(all))
        XCTAssertEqual(step(&supervisor, at: 100), [])
        XCTAssertNil(supervisor.nextDue(now: at(100)), "nothing is due: no poll while programs serve")
    }
}
