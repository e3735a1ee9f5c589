// What the program worker tests share: the raw socket activation program, services that run it,
// and asking a service which worker answered.
import Foundation
import SocketServer
import SocketServerTestSupport
import XCTest

extension DaemonTestCase {
    /// Tests/Programs/`name` copied into the test directory, where the workers' user can run it.
    func testProgram(_ name: String) -> String {
        script(name, readText(repositoryRoot + "/Tests/Programs/" + name))
    }

    /// A `handler = program` service running `command`, with `workers` and then `extra` keys.
    func programService(_ name: String = "app", command: String, listen: Listen = .tcp, workers: Int = 2,
                        _ extra: [(String, String)] = []) -> Service {
        var service = Service(name, handler: "program", listen: listen, ["command": command, "workers": workers])
        service.keys += extra
        return service
    }

    /// A daemon whose one service, app, runs Tests/Programs/activation_echo.py as `workers`
    /// programs, with `extra` keys and the daemon's `graceful_timeout`.
    func startEchoPrograms(workers: Int, _ extra: [(String, String)] = [], gracefulTimeout: Int,
                           file: StaticString = #filePath, line: UInt = #line) throws -> DaemonProcess {
        try startDaemon(service: programService(command: testProgram("activation_echo.py"), workers: workers, extra),
                        daemon: ["graceful_timeout": gracefulTimeout], file: file, line: line)
    }

    /// The pids of the workers that answered "pid" over `attempts` new connections to `port`,
    /// stopping once `wanted` different ones have.
    func answeringPIDs(port: Int, wanted: Int, attempts: Int = 300) throws -> Set<pid_t> {
        var seen: Set<pid_t> = []
        for _ in 0..<attempts where seen.count < wanted {
            let reply = try ask(port: port, "pid\n")
            guard let pid = pid_t(reply.trimmingCharacters(in: .whitespacesAndNewlines)) else {
                XCTFail("not a pid: \(reply.debugDescription)")
                break
            }
            seen.insert(pid)
        }
        return seen
    }
}

extension DaemonProcess {
    /// How many times the log says a worker of `service` started.
    func startsLogged(service: String) -> Int {
        log.components(separatedBy: "started for service \(service) ").count - 1
    }
}
