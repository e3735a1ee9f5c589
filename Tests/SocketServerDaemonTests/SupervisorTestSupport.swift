// What the supervisor tests share: a made-up clock, the master's part of each decision (a worker
// record per start) and the check of a crash loop's back-off.
@testable import SocketServerDaemon
import XCTest

class SupervisorTestCase: XCTestCase {
    let t0 = ContinuousClock.now
    var nextPID: pid_t = 100

    /// What the workers it starts run: nil for a built-in handler, a program's traits for program workers.
    var startedProgram: ProgramTraits? { nil }

    func at(_ seconds: Double) -> ContinuousClock.Instant { t0.advanced(by: .milliseconds(Int(seconds * 1000))) }

    /// Carries out the starts as the master would (a record per fork) and returns the other actions.
    @discardableResult
    func step(_ supervisor: inout Supervisor, at seconds: Double, _ seen: Observations = Observations()) -> [SupervisorAction] {
        let actions = supervisor.decide(now: at(seconds), observing: seen)
        for case .start(let service) in actions {
            nextPID += 1
            var record = WorkerRecord(pid: nextPID, service: service, generation: supervisor.generation, started: at(seconds))
            record.program = startedProgram
            supervisor.workers.add(record)
        }
        return actions.filter { if case .start = $0 { return false } else { return true } }
    }

    func pids(_ supervisor: Supervisor, generation: Int) -> [pid_t] {
        supervisor.workers.records.values.filter { $0.generation == generation }.map(\.pid).sorted()
    }

    /// Generation 1's one worker exits with `status` at `clock`, once for each of `delays`, and
    /// lives `lifetime` each time it is started again. Checks that the exit is a failure with the
    /// next of `delays` (milliseconds) as its back-off, that nothing starts inside the back-off,
    /// which is when the supervisor is next due, and that a worker runs again once it has passed.
    /// Returns the clock after the last life, nil when an exit was not a failure.
    @discardableResult
    func assertBacksOff(_ supervisor: inout Supervisor, status: Int32, delays: [Int], from start: Double, lifetime: Double,
                        _ notAFailure: String, file: StaticString = #filePath, line: UInt = #line) -> Double? {
        var clock = start
        for expected in delays {
            let pid = pids(supervisor, generation: 1)[0]
            guard case .crashed(let delay, _, _)? = supervisor.workerExited(pid: pid, status: status, failedAtStart: false, now: at(clock))?.1
            else {
                XCTFail(notAFailure, file: file, line: line)
                return nil
            }
            XCTAssertEqual(delay, .milliseconds(expected), file: file, line: line)
            XCTAssertEqual(step(&supervisor, at: clock), [], file: file, line: line)
            XCTAssertTrue(pids(supervisor, generation: 1).isEmpty, "nothing starts inside the back-off", file: file, line: line)
            XCTAssertEqual(supervisor.nextDue(now: at(clock)), at(clock + Double(expected) / 1000), file: file, line: line)
            clock += Double(expected) / 1000
            step(&supervisor, at: clock)
            XCTAssertEqual(pids(supervisor, generation: 1).count, 1, "started again once the back-off passed", file: file, line: line)
            clock += lifetime
        }
        return clock
    }
}
