// The supervisor's decisions with a made-up clock: no binary, no fork, no sleep. Each test builds a
// worker table, advances the instant by hand and checks what the master would be told to do.
@testable import SocketServerDaemon
import XCTest

final class SupervisorTests: SupervisorTestCase {
    func started(_ supervisor: inout Supervisor, echo: Int, at seconds: Double = 0) {
        supervisor.begin(generation: 1, demands: [ServiceDemand(name: "echo", wanted: echo)], gracefulTimeout: .seconds(5), now: at(seconds))
        step(&supervisor, at: seconds)
    }

    func testStartsWhatEachServiceLacks() {
        var supervisor = Supervisor(now: t0)
        supervisor.begin(generation: 1, demands: [ServiceDemand(name: "echo", wanted: 2), ServiceDemand(name: "day", wanted: 1)],
                         gracefulTimeout: .seconds(5), now: t0)
        let actions = supervisor.decide(now: t0, observing: Observations())
        XCTAssertEqual(actions, [.start(service: "echo"), .start(service: "echo"), .start(service: "day")])
    }

    func testACrashLoopBacksOffAndALongLifeResetsIt() {
        var supervisor = Supervisor(now: t0)
        started(&supervisor, echo: 1)
        // Dies 0.5 s after start: 0.1 s back-off, then 0.2 s, then 0.4 s.
        guard let clock = assertBacksOff(&supervisor, status: 9, delays: [100, 200, 400], from: 0.5, lifetime: 0.5, "not a crash")
        else { return }
        // A worker that lived past the start-up window resets the back-off: replaced at once.
        let pid = pids(supervisor, generation: 1)[0]
        let exit = supervisor.workerExited(pid: pid, status: 9, failedAtStart: false, now: at(clock + 10))?.1
        XCTAssertEqual(exit, .crashed(delay: nil, failures: 0, lived: .seconds(10) + .milliseconds(500)))
        step(&supervisor, at: clock + 10)
        XCTAssertEqual(pids(supervisor, generation: 1).count, 1)
    }

    func testTheOldGenerationRetiresOnceTheNewOneIsReady() {
        var supervisor = Supervisor(now: t0)
        started(&supervisor, echo: 2)
        let old = pids(supervisor, generation: 1)
        supervisor.begin(generation: 2, demands: [ServiceDemand(name: "echo", wanted: 2)], gracefulTimeout: .seconds(5), now: at(1))
        XCTAssertEqual(step(&supervisor, at: 1), [], "nothing retires before the new generation serves")
        let new = pids(supervisor, generation: 2)
        XCTAssertEqual(new.count, 2)
        XCTAssertEqual(step(&supervisor, at: 1.1, Observations(ready: [new[0]])), [], "one of two ready is not enough")
        let retired = step(&supervisor, at: 1.2, Observations(ready: [new[1]]))
        XCTAssertEqual(retired, old.map { .retire(pid: $0, service: "echo", reason: .oldGeneration) })
        // graceful_timeout later, what is still there is killed.
        XCTAssertEqual(step(&supervisor, at: 6.1), [])
        XCTAssertEqual(step(&supervisor, at: 6.2), old.map { .kill(pid: $0, service: "echo", reason: .overdue) })
    }

    func testAnOldGenerationIsRetiredAfterTheStartWindowEvenIfTheNewOneNeverServes() {
        var supervisor = Supervisor(now: t0)
        started(&supervisor, echo: 1)
        let old = pids(supervisor, generation: 1)
        supervisor.begin(generation: 2, demands: [ServiceDemand(name: "echo", wanted: 1)], gracefulTimeout: .seconds(5), now: at(1))
        step(&supervisor, at: 1)
        XCTAssertEqual(step(&supervisor, at: 30.9), [])
        XCTAssertEqual(step(&supervisor, at: 31), [.retire(pid: old[0], service: "echo", reason: .oldGeneration)])
    }

    func testAServiceThatIsGoneRetiresAtOnce() {
        var supervisor = Supervisor(now: t0)
        started(&supervisor, echo: 1)
        let old = pids(supervisor, generation: 1)
        supervisor.begin(generation: 2, demands: [ServiceDemand(name: "other", wanted: 1)], gracefulTimeout: .seconds(5), now: at(1))
        let actions = step(&supervisor, at: 1)
        XCTAssertEqual(actions, [.retire(pid: old[0], service: "echo", reason: .oldGeneration)])
    }

    func testARetiringWorkerIsReplacedAtOnce() {
        var supervisor = Supervisor(now: t0)
        started(&supervisor, echo: 1)
        let first = pids(supervisor, generation: 1)[0]
        let actions = supervisor.decide(now: at(2), observing: Observations(selfRetiring: [first]))
        XCTAssertEqual(actions, [.retire(pid: first, service: "echo", reason: .byItself), .start(service: "echo")])
        XCTAssertEqual(supervisor.workers.records[first]?.killAt, at(7), "it has graceful_timeout to finish")
    }

    func testSurplusWorkersRetireNewestFirst() {
        var supervisor = Supervisor(now: t0)
        started(&supervisor, echo: 3)
        let all = pids(supervisor, generation: 1)
        supervisor.adjust(demands: [ServiceDemand(name: "echo", wanted: 1)])
        let actions = step(&supervisor, at: 1)
        XCTAssertEqual(Set(actions), Set(all.dropFirst().map { .retire(pid: $0, service: "echo", reason: .surplus) }))
    }

    func testAHungRequestKillsItsWorkerOnce() {
        var supervisor = Supervisor(now: t0)
        supervisor.begin(generation: 1, demands: [ServiceDemand(name: "echo", wanted: 1, requestTimeout: .seconds(2))],
                         gracefulTimeout: .seconds(5), now: t0)
        _ = supervisor.decide(now: t0, observing: Observations())
        supervisor.workers.add(WorkerRecord(pid: 7, service: "echo", generation: 1, started: t0, requestTimeout: .seconds(2)))
        XCTAssertEqual(supervisor.decide(now: at(1), observing: Observations(oldestRequest: [7: (.seconds(1), "c")])), [])
        let hung = supervisor.decide(now: at(3), observing: Observations(oldestRequest: [7: (.seconds(3), "c")]))
        XCTAssertEqual(hung, [.kill(pid: 7, service: "echo", reason: .hung(client: "c", running: .seconds(3), limit: .seconds(2)))])
        XCTAssertEqual(supervisor.decide(now: at(4), observing: Observations(oldestRequest: [7: (.seconds(4), "c")])), [])
    }

    func testAStopRetiresEverythingAndStartsNothing() {
        var supervisor = Supervisor(now: t0)
        started(&supervisor, echo: 2)
        let all = pids(supervisor, generation: 1)
        supervisor.beginStop(deadline: at(10))
        let actions = step(&supervisor, at: 1)
        XCTAssertEqual(Set(actions), Set(all.map { .retire(pid: $0, service: "echo", reason: .stop) }))
        _ = supervisor.workerExited(pid: all[0], status: 0, failedAtStart: false, now: at(2))
        XCTAssertEqual(step(&supervisor, at: 2), [], "a worker that ended during a stop is not replaced")
        XCTAssertEqual(step(&supervisor, at: 10), [.kill(pid: all[1], service: "echo", reason: .overdue)])
    }

    /// A fixed demand (the metrics process) is kept through worker-count adjustments, renewed per
    /// generation (the old one retired once the new one is ready) and dropped with its generation.
    func testAFixedDemandIsLeftAloneByAdjustments() {
        var supervisor = Supervisor(now: t0)
        let metrics = ServiceDemand(name: "[metrics]", wanted: 1)
        supervisor.begin(generation: 1, demands: [ServiceDemand(name: "echo", wanted: 1)], fixed: [metrics],
                         gracefulTimeout: .seconds(5), now: t0)
        XCTAssertEqual(supervisor.decide(now: t0, observing: Observations()), [.start(service: "echo"), .start(service: "[metrics]")])
        step(&supervisor, at: 0)
        supervisor.adjust(demands: [ServiceDemand(name: "echo", wanted: 3)])
        XCTAssertEqual(step(&supervisor, at: 0.1), [])
        XCTAssertEqual(supervisor.workers.active(service: "[metrics]", generation: 1).count, 1)
        XCTAssertEqual(supervisor.workers.active(service: "echo", generation: 1).count, 3)
        // Killed: replaced, with the workers' back-off.
        let first = supervisor.workers.active(service: "[metrics]", generation: 1)[0].pid
        guard case .crashed? = supervisor.workerExited(pid: first, status: 9, failedAtStart: false, now: at(0.2))?.1 else {
            return XCTFail("not a crash")
        }
        step(&supervisor, at: 0.2)
        XCTAssertTrue(supervisor.workers.active(service: "[metrics]", generation: 1).isEmpty, "restarted inside the back-off")
        step(&supervisor, at: 0.3)
        let second = supervisor.workers.active(service: "[metrics]", generation: 1).first?.pid
        XCTAssertNotNil(second)
        // A new generation: a new one, and the old one retires once it is ready.
        supervisor.begin(generation: 2, demands: [ServiceDemand(name: "echo", wanted: 1)], fixed: [metrics],
                         gracefulTimeout: .seconds(5), now: at(1))
        step(&supervisor, at: 1)
        let renewed = supervisor.workers.active(service: "[metrics]", generation: 2).map(\.pid)
        XCTAssertEqual(renewed.count, 1)
        var seen = Observations()
        seen.ready = Set(supervisor.workers.records.values.filter { $0.generation == 2 }.map(\.pid))
        XCTAssertTrue(step(&supervisor, at: 1.1, seen).contains(.retire(pid: second ?? 0, service: "[metrics]", reason: .oldGeneration)))
        // A generation without it: the running one retires at once.
        supervisor.begin(generation: 3, demands: [ServiceDemand(name: "echo", wanted: 1)], gracefulTimeout: .seconds(5), now: at(2))
        XCTAssertTrue(step(&supervisor, at: 2).contains(.retire(pid: renewed[0], service: "[metrics]", reason: .oldGeneration)))
    }
}
