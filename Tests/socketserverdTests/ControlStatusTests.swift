// `socketserverd status`: what the master reports on its control socket, read the way an operator
// (plain text) and a program (`--json`, parsed by Foundation's JSON parser) read it.
import Foundation
import SocketServer
import SocketServerTestSupport
import XCTest

final class ControlStatusTests: DaemonTestCase {
    var controlPath: String { directory + "/control.sock" }

    func config(_ services: Service..., daemon keys: ConfigKeys = [:]) -> DaemonConfigBuilder {
        let base = DaemonConfigBuilder(daemon: ["graceful_timeout": 10, "control_socket": controlPath], services: services)
        return keys.reduce(base) { $0.adding(daemon: $1.key, $1.value) }
    }

    var version: String {
        (try? runDaemonBinary(["--version"]).stdout.split(separator: " ").last.map { String($0.dropLast()) }) ?? nil ?? "?"
    }

    func testStatusJSONNamesTheDaemonItsServicesAndEveryWorker() throws {
        let daemon = try startDaemon(config(Service("echo", ["workers": 2]),
                                            Service("shout", handler: "upper", ["workers": 1, "concurrency": "fork"])))
        XCTAssertTrue(daemon.waitForWorkers(3), daemon.log)
        let status = try daemonStatus()
        XCTAssertEqual(status.pid, Int(daemon.pid))
        XCTAssertEqual(status.object["version"] as? String, version)
        XCTAssertEqual(status.generation, 1)
        let uptime = try XCTUnwrap(status.int("uptime_seconds"))
        XCTAssertTrue((0...60).contains(uptime), "uptime \(uptime)")
        XCTAssertEqual(status.reloads.ok, 0)
        XCTAssertEqual(status.reloads.failed, 0)
        XCTAssertEqual(status.serviceNames, ["echo", "shout"])

        let echo = try XCTUnwrap(status.service("echo"))
        XCTAssertEqual(echo["listen"] as? String, "tcp://127.0.0.1:\(daemon.port("echo"))")
        XCTAssertEqual(echo["handler"] as? String, "echo")
        XCTAssertEqual(echo["concurrency"] as? String, "threads")
        XCTAssertEqual(try XCTUnwrap(status.service("shout"))["concurrency"] as? String, "fork")
        for name in ["echo", "shout"] {
            let service = try XCTUnwrap(status.service(name))
            XCTAssertEqual(service["active"] as? Int, 0, name)
            XCTAssertNotNil(service["served"] as? Int, name)
            XCTAssertEqual(service["restarts"] as? Int, 0, name)
            XCTAssertEqual(service["refused"] as? [String: Int],
                           ["allow": 0, "deny": 0, "per_source": 0, "max_connections": 0, "rate": 0, "full": 0], name)
            for worker in status.workers(name) {
                XCTAssertEqual(worker["generation"] as? Int, 1)
                XCTAssertNotNil(worker["requests"] as? Int)
                XCTAssertEqual(worker["active"] as? Int, 0)
            }
        }
        XCTAssertEqual(status.workerPIDs("echo").count, 2)
        XCTAssertEqual(status.workerPIDs("shout").count, 1)
        XCTAssertEqual(status.allWorkerPIDs, daemon.workerPIDs(), "the workers listed are the master's children")
    }

    func testPlainStatusIsOneLineForTheDaemonAndABlockPerService() throws {
        let daemon = try startDaemon(config(Service("echo", ["workers": 2])))
        XCTAssertTrue(daemon.waitForWorkers(2), daemon.log)
        let result = try runStatus()
        XCTAssertEqual(result.status, 0, result.output)
        let lines = result.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        XCTAssertTrue(lines[0].hasPrefix("socketserverd \(version), pid \(daemon.pid), generation 1, serving, up "), lines[0])
        XCTAssertTrue(lines[0].hasSuffix("reloads: 0 ok, 0 failed"), lines[0])
        XCTAssertTrue(lines.contains("service echo: tcp://127.0.0.1:\(daemon.port), handler echo, concurrency threads"), result.stdout)
        XCTAssertTrue(lines.contains { $0.hasPrefix("  workers 2 (2 wanted), connections now 0, served ") && $0.hasSuffix("worker restarts 0") },
                      result.stdout)
        XCTAssertTrue(lines.contains("  refused: allow 0, deny 0, per_source 0, max_connections 0, rate 0, full 0"), result.stdout)
        for pid in daemon.workerPIDs() {
            let row = lines.first { $0.split(separator: " ").first == Substring(String(pid)) }
            let fields = row?.split(separator: " ").map(String.init) ?? []
            XCTAssertEqual(fields.count, 5, "no row for worker \(pid):\n\(result.stdout)")
            XCTAssertEqual(fields.dropFirst().first, "1", "its generation")
        }
    }

    func testReloadsAndWorkerRestartsAreCounted() throws {
        var good = config(Service("echo", ["workers": 2]))
        let daemon = try startDaemon(good)
        try rewriteConfig(good, for: daemon)
        daemon.signal(SIGHUP)
        XCTAssertNotNil(daemon.waitForStatus("generation 2"), daemon.log)
        var status = try daemonStatus()
        XCTAssertEqual(status.generation, 2)
        XCTAssertEqual(status.reloads.ok, 1)
        XCTAssertEqual(status.reloads.failed, 0)

        good.trailer = "\n[service broken]\nlisten = tcp://127.0.0.1:99999\nhandler = nope\n"
        try rewriteConfig(good, for: daemon)
        daemon.signal(SIGHUP)
        XCTAssertNotNil(daemon.waitForStatus("reload failed"), daemon.log)
        status = try daemonStatus()
        XCTAssertEqual(status.generation, 2, "a failed reload leaves the generation")
        XCTAssertEqual(status.reloads.ok, 1)
        XCTAssertEqual(status.reloads.failed, 1)

        // A worker killed from outside is a restart; the master lists its replacement, not it.
        status = try daemonStatus { $0.workerPIDs("echo").count == 2 && $0.workers("echo").allSatisfy { $0["generation"] as? Int == 2 } }
        let victim = try XCTUnwrap(status.workerPIDs("echo").first)
        kill(victim, SIGKILL)
        status = try daemonStatus { $0.service("echo")?["restarts"] as? Int == 1 && $0.workerPIDs("echo").count == 2 }
        XCTAssertEqual(status.service("echo")?["restarts"] as? Int, 1, daemon.log)
        XCTAssertFalse(status.workerPIDs("echo").contains(victim))
        XCTAssertEqual(status.workerPIDs("echo"), daemon.workerPIDs())
        // Workers the master retires (TTOU) are not restarts.
        daemon.signal(SIGTTOU)
        status = try daemonStatus { $0.workerPIDs("echo").count == 1 }
        XCTAssertEqual(status.workerPIDs("echo").count, 1)
        XCTAssertEqual(status.service("echo")?["restarts"] as? Int, 1)
    }

    /// Killed at request_timeout, a worker is a restart too.
    func testAWorkerKilledForAHungRequestIsARestart() throws {
        let sleep = uniqueSleep()
        let program = script("hang.sh", "#!/bin/sh\nexec \(sleep)\n")
        let daemon = try startDaemon(config(Service("hang", handler: "exec", ["command": program, "workers": 1, "request_timeout": 0.5])))
        let client = try connectTCP(port: daemon.port)
        defer { client.close() }
        XCTAssertTrue(daemon.waitForLog("killing worker"), daemon.log)
        let status = try daemonStatus { $0.service("hang")?["restarts"] as? Int == 1 && $0.workerPIDs("hang").count == 1 }
        XCTAssertEqual(status.service("hang")?["restarts"] as? Int, 1, daemon.log)
        XCTAssertTrue(waitForNoProcess(matching: sleep), "the hung program outlived its worker")
    }

    func testAnOldGenerationStillDrainingIsListedWithItsGeneration() throws {
        let service = Service("echo", ["workers": 1])
        let daemon = try startDaemon(config(service))
        let held = try connectTCP(port: daemon.port)
        defer { held.close() }
        XCTAssertEqual(try ask(held, "before\n"), "before\n")
        let old = try XCTUnwrap(daemon.workerPIDs().first)
        try rewriteConfig(config(service), for: daemon)
        daemon.signal(SIGHUP)
        XCTAssertNotNil(daemon.waitForStatus("generation 2"), daemon.log)
        let status = try daemonStatus { $0.workerPIDs("echo").count == 2 && $0.workers("echo").contains { $0["retiring"] as? Bool == true } }
        let workers = status.workers("echo")
        let draining = try XCTUnwrap(workers.first { $0["pid"] as? Int == Int(old) }, "\(workers)")
        XCTAssertEqual(draining["generation"] as? Int, 1)
        XCTAssertEqual(draining["retiring"] as? Bool, true)
        XCTAssertEqual(workers.filter { $0["generation"] as? Int == 2 }.count, 1, "\(workers)")
        XCTAssertEqual(status.generation, 2)
        // Its client done, the old worker goes, and so does its row.
        held.close()
        let after = try daemonStatus { $0.workerPIDs("echo").count == 1 }
        XCTAssertEqual(after.workers("echo").map { $0["generation"] as? Int }, [2])
    }

    func testAServiceAReloadRemovedIsListedWhileItsLastWorkerFinishes() throws {
        let kept = Service("kept", handler: "echo", ["workers": 1]), gone = Service("gone", handler: "echo", ["workers": 1])
        let daemon = try startDaemon(config(kept, gone))
        let held = try connectTCP(port: daemon.port("gone"))
        defer { held.close() }
        XCTAssertEqual(try ask(held, "still here\n"), "still here\n")
        try rewriteConfig(config(kept), for: daemon)
        daemon.signal(SIGHUP)
        XCTAssertNotNil(daemon.waitForStatus("generation 2"), daemon.log)
        let status = try daemonStatus()
        XCTAssertEqual(status.serviceNames, ["kept", "gone"])
        let removed = try XCTUnwrap(status.service("gone"))
        XCTAssertTrue(removed["wanted"] is NSNull, "\(removed)")
        XCTAssertEqual(removed["listen"] as? String, "tcp://127.0.0.1:\(daemon.port("gone"))")
        XCTAssertEqual(status.workers("gone").map { $0["generation"] as? Int }, [1])
        XCTAssertEqual(status.workers("gone").map { $0["retiring"] as? Bool }, [true])
        XCTAssertTrue(try runStatus().stdout.contains("service gone (removed by a reload; its last workers finish)"))
        held.close()
        let after = try daemonStatus { $0.serviceNames == ["kept"] }
        XCTAssertEqual(after.serviceNames, ["kept"])
    }

    func testWithNoDaemonStatusSaysSoInOneLineAndExits1() throws {
        writeConfig(try config(Service("echo")).text(ports: ["echo": 9]), to: configPath)
        var result = try runStatus()
        XCTAssertEqual(result.status, 1)
        XCTAssertEqual(result.stdout, "")
        XCTAssertEqual(result.stderr.split(separator: "\n").count, 1, result.stderr)
        XCTAssertTrue(result.stderr.contains("no daemon answers on \(controlPath)"), result.stderr)

        // A socket file a dead daemon left: the same.
        let stale = try Socket(family: .unix, type: .stream)
        try stale.bind(.unix(path: controlPath))
        stale.close()
        result = try runStatus(json: true)
        XCTAssertEqual(result.status, 1)
        XCTAssertEqual(result.stderr.split(separator: "\n").count, 1, result.stderr)
        XCTAssertTrue(result.stderr.contains("no daemon answers on \(controlPath) (Connection refused)"), result.stderr)

        // The daemon replaces that stale file, and answers.
        let daemon = try startDaemon(config(Service("echo")))
        XCTAssertEqual(try daemonStatus().pid, Int(daemon.pid))

        writeConfig("[daemon]\ncontrol_socket = off\n", to: configPath)
        result = try runStatus()
        XCTAssertEqual(result.status, 1)
        XCTAssertTrue(result.stderr.contains("control_socket = off"), result.stderr)
    }

    /// A connection closed with its request unread (as one accepted just before a binary
    /// upgrade's exec is) is asked again, and the answer printed.
    func testAConnectionResetUnansweredIsAskedAgain() throws {
        writeConfig(try config(Service("echo")).text(ports: ["echo": 9]), to: configPath)
        let server = try Socket(family: .unix, type: .stream)
        defer { server.close() }
        try server.bind(.unix(path: controlPath))
        try server.listen(4)
        try server.setTimeout(.seconds(10))
        let served = DispatchQueue.global()
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var requests: [String] = []
        served.async {
            defer { done.signal() }
            guard let (first, _) = try? server.accept() else { return }
            _ = try? first.recv(1, flags: Int32(MSG_PEEK))  // the request is there, and stays unread
            first.close()  // a reset, for the client
            guard let (second, _) = try? server.accept() else { return }
            requests.append((try? readLine(second)) ?? "")
            try? second.sendAll("ok\nanswered the second time\n")
            second.close()
        }
        let result = try runStatus()
        done.wait()
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertEqual(result.stdout, "answered the second time\n")
        XCTAssertEqual(requests, ["status\n"])
    }

    func testTheDefaultSocketIsInTheRuntimeDirectoryAndGoesAtExit() throws {
        let runtime = makeDirectory("run", mode: 0o755)
        let daemon = try startDaemon(DaemonConfigBuilder(services: [Service("echo", ["workers": 1])]),
                                     environment: ["RUNTIME_DIRECTORY": runtime])
        var info = stat()
        XCTAssertEqual(lstat(runtime + "/control.sock", &info), 0, daemon.log)
        XCTAssertEqual(info.st_mode & S_IFMT, S_IFSOCK)
        XCTAssertEqual(info.st_mode & 0o777, 0o660)
        let result = try runStatus(json: true, environment: ["PATH=/usr/bin:/bin", "RUNTIME_DIRECTORY=\(runtime)"])
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertEqual(try DaemonStatus(json: result.stdout).pid, Int(daemon.pid))
        // Workers hold no descriptor of it: only the master answers.
        let inode = try XCTUnwrap(unixSocketInode(path: runtime + "/control.sock"))
        XCTAssertTrue(socketInodes(of: daemon.pid).contains(inode))
        for worker in daemon.workerPIDs() { XCTAssertFalse(socketInodes(of: worker).contains(inode), "worker \(worker)") }
        daemon.signal(SIGTERM)
        XCTAssertEqual(daemon.waitExit(), 0, daemon.log)
        XCTAssertNotEqual(lstat(runtime + "/control.sock", &info), 0, "the socket file is removed at exit")
    }

    func testAControlSocketPathThatIsNotASocketIsRefusedAtStart() throws {
        writeFile("precious\n", to: controlPath, mode: 0o644)
        let daemon = try startDaemon(config(Service("echo")), ready: false)
        XCTAssertNotNil(daemon.waitExit(), daemon.log)
        XCTAssertTrue(daemon.log.contains("control_socket \(controlPath): \(controlPath) exists and is not a socket"), daemon.log)
        XCTAssertEqual(readText(controlPath), "precious\n")
        let check = try checkConfig("[daemon]\ncontrol_socket = relative.sock\n[service echo]\nlisten = tcp://127.0.0.1:7\nhandler = echo\n")
        XCTAssertEqual(check.status, 1)
        XCTAssertTrue(check.stderr.contains("check.conf:2: control_socket must be an absolute path"), check.stderr)
    }
}

/// The inode of the Unix socket bound at `path`, as /proc/net/unix and /proc/PID/fd name it.
func unixSocketInode(path: String) -> String? {
    for line in readText("/proc/net/unix").split(separator: "\n") {
        let fields = line.split(separator: " ", omittingEmptySubsequences: true)
        if fields.count >= 8, fields[7] == Substring(path) { return String(fields[6]) }
    }
    return nil
}
