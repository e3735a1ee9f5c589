// Started as root: the master stays root (root-only files, ports below 1024 on reload) and serves
// no client; workers, request children, exec programs, the plugin check and the metrics process
// run as `user` with no capability at all.
import Foundation
import SocketServer
import SocketServerTestSupport
import XCTest

final class RootPrivilegeTests: PluginTestCase {
    static let user = "ssdtest"
    /// The test's account (made with useradd if missing).
    var account: (uid: uid_t, gid: gid_t) = (0, 0)
    /// Mode 0700, owned by root: only the master may reach what is in it.
    var privateDirectory = ""

    /// Skips unless root; makes the account and the private directory.
    func requireRoot() throws {
        try XCTSkipIf(getuid() != 0, "needs root: the master must start as root")
        account = try Self.ensureUser()
        privateDirectory = directory + "/private"
        XCTAssertEqual(mkdir(privateDirectory, 0o700), 0)
        chmod(privateDirectory, 0o700)
    }

    static func ensureUser() throws -> (uid: uid_t, gid: gid_t) {
        if getpwnam(user) == nil {
            let added = try runProgram("/usr/sbin/useradd", ["--system", "--no-create-home", user], env: ["PATH=/usr/sbin:/usr/bin:/bin"])
            guard getpwnam(user) != nil else { throw XCTSkip("cannot create the user \(user): \(added.output)") }
        }
        guard let entry = getpwnam(user) else { throw XCTSkip("no user \(user)") }
        return (entry.pointee.pw_uid, entry.pointee.pw_gid)
    }

    /// The process runs as the test's user and group for good, with every capability set empty
    /// (the bounding set too, when `fromRoot`: only root can empty it).
    func assertUnprivileged(_ fields: [String: String], _ what: String, fromRoot: Bool = true,
                            file: StaticString = #filePath, line: UInt = #line) {
        let uid = "\(account.uid)", gid = "\(account.gid)"
        XCTAssertEqual(fields["Uid"], [uid, uid, uid, uid].joined(separator: "\t"), "\(what): \(fields)", file: file, line: line)
        XCTAssertEqual(fields["Gid"], [gid, gid, gid, gid].joined(separator: "\t"), "\(what)", file: file, line: line)
        XCTAssertEqual(fields["Groups"], fromRoot ? gid : "", "\(what): supplementary groups", file: file, line: line)
        for set in ["CapInh", "CapPrm", "CapEff", "CapAmb"] + (fromRoot ? ["CapBnd"] : []) {
            XCTAssertEqual(fields[set], "0000000000000000", "\(what): \(set)", file: file, line: line)
        }
        XCTAssertEqual(fields["NoNewPrivs"], "1", "\(what)", file: file, line: line)
    }

    /// The daemon's workers once `count` have said they serve (a worker logs it at debug level,
    /// after it has become the user): before that, a worker just forked is still the master's user.
    func servingWorkers(_ daemon: DaemonProcess, count: Int, file: StaticString = #filePath, line: UInt = #line) -> [pid_t] {
        XCTAssertTrue(daemon.waitForLog(" serving tcp://", count: count), daemon.log, file: file, line: line)
        return daemon.workerPIDs().filter { daemon.log.contains("worker \($0) serving tcp://") }
    }

    /// The root-owned, 0600 config in the private directory.
    var privateConfig: String { privateDirectory + "/socketserverd.conf" }

    /// Waits until the file at `path` contains `text`.
    func waitFor(_ text: String, in path: String) -> Bool {
        eventually(within: .seconds(10), every: .milliseconds(20)) { readText(path).contains(text) }
    }

    func testRootOnlyPidFileNotifySocketAndConfigAndALowPortOnReload() throws {
        try requireRoot()
        let low = try freeLowPort()
        let pidFile = privateDirectory + "/socketserverd.pid"
        var config = DaemonConfigBuilder(daemon: ["user": Self.user, "pid_file": pidFile, "graceful_timeout": 5],
                                         services: [Service("echo", ["workers": 1])])
        let daemon = try startDaemon(config, at: privateConfig, mode: 0o600, notifyPath: privateDirectory + "/notify.sock", ready: false)
        XCTAssertTrue(daemon.notifications(until: "READY=1").contains { $0.contains("READY=1") }, daemon.log)
        XCTAssertEqual(readText(pidFile).trimmingCharacters(in: .whitespacesAndNewlines), "\(daemon.pid)")
        XCTAssertEqual(try tcpRoundTrip(port: daemon.port), "hello\n")

        // HUP re-reads the 0600 config and binds a port below 1024.
        config.services.append(Service("low", handler: "upper", listen: .tcpPort(low), ["workers": 1]))
        writeFile(try config.text(ports: daemon.ports), to: privateConfig, mode: 0o600)
        daemon.signal(SIGHUP)
        let reload = daemon.notifications(until: "generation 2")
        let reloading = try XCTUnwrap(reload.firstIndex { $0.contains("RELOADING=1") }, "\(reload)\n\(daemon.log)")
        let ready = try XCTUnwrap(reload.lastIndex { $0.contains("READY=1") }, "\(reload)\n\(daemon.log)")
        XCTAssertLessThan(reloading, ready)
        XCTAssertEqual(try tcpRoundTrip(port: low, "low port\n"), "LOW PORT\n", daemon.log)

        daemon.signal(SIGTERM)
        XCTAssertEqual(daemon.waitExit(), 0, daemon.log)
        XCTAssertTrue(daemon.notifications().contains { $0.contains("STOPPING=1") })
        XCTAssertFalse(FileManager.default.fileExists(atPath: pidFile), "the pid file is removed at exit")
    }

    func testLogFileInARootOnlyDirectorySurvivesRotationAndAReload() throws {
        try requireRoot()
        let logDirectory = privateDirectory + "/log"
        mkdir(logDirectory, 0o700)
        let logFile = logDirectory + "/socketserverd.log", other = logDirectory + "/other.log"
        func config(_ log: String) -> DaemonConfigBuilder {
            DaemonConfigBuilder(daemon: ["user": Self.user, "log_file": log, "log_level": "debug", "graceful_timeout": 5],
                                services: [Service("echo", ["workers": 1])])
        }
        let daemon = try startDaemon(config(logFile), at: privateConfig, mode: 0o600, notifyPath: privateDirectory + "/notify.sock")
        let port = daemon.port
        XCTAssertTrue(waitFor(" serving tcp://", in: logFile), readText(logFile))
        let worker = try XCTUnwrap(daemon.workerPIDs().first)
        XCTAssertEqual(processStatus(worker)["Uid"]?.split(separator: "\t").first.map(String.init), "\(account.uid)")
        // logrotate: move the file away, then USR1. The master writes the new file, and so does
        // the worker (its connection lines at debug), which could not open the file itself.
        try FileManager.default.moveItem(atPath: logFile, toPath: logFile + ".1")
        daemon.signal(SIGUSR1)
        XCTAssertTrue(waitFor("[\(daemon.pid)] info: SIGUSR1: log reopened", in: logFile), readText(logFile))
        XCTAssertEqual(try tcpRoundTrip(port: port), "hello\n")
        XCTAssertTrue(waitFor("[\(worker)] debug: service echo: worker \(worker) serving 127.0.0.1:", in: logFile),
                      "the worker's line is not in the new file:\n\(readText(logFile))\nold:\n\(readText(logFile + ".1"))")
        XCTAssertFalse(readText(logFile + ".1").contains("log reopened"))

        // A reload to another file in the same directory: the new generation writes there too.
        writeFile(try config(other).text(ports: daemon.ports), to: privateConfig, mode: 0o600)
        daemon.signal(SIGHUP)
        XCTAssertTrue(waitFor("reloaded: generation 2", in: other), readText(other) + daemon.log)
        XCTAssertEqual(try tcpRoundTrip(port: port), "hello\n")
        XCTAssertTrue(waitFor("debug: service echo: worker", in: other), readText(other))
        for path in [logFile + ".1", logFile, other] { XCTAssertFalse(readText(path).contains("error:"), readText(path)) }
    }

    func testWorkersRequestChildrenAndExecProgramsRunAsTheUserWithoutCapabilities() throws {
        try requireRoot()
        let program = script("status.sh", "#!/bin/sh\nexec grep -E '^(Uid|Gid|Groups|Cap[A-Za-z]+|NoNewPrivs):' /proc/self/status\n")
        let daemon = try startDaemon(service: Service("threads", handler: "echo", ["workers": 1]),
                                     Service("forked", handler: "echo", ["workers": 1, "concurrency": "fork"]),
                                     Service("exec", ["command": program, "workers": 1]),
                                     Service("execforked", handler: "exec", ["command": program, "workers": 1, "concurrency": "fork"]),
                                     daemon: ["user": Self.user, "log_level": "debug"])
        let (threads, forked) = (daemon.port("threads"), daemon.port("forked"))
        let workers = servingWorkers(daemon, count: 4)
        XCTAssertEqual(workers.count, 4)
        for worker in workers { assertUnprivileged(processStatus(worker), "worker \(worker)") }

        for port in [daemon.port("exec"), daemon.port("execforked")] {
            let client = try connectTCP(port: port)
            defer { client.close() }
            let printed = try readAllText(client)
            assertUnprivileged(statusFields(printed), "exec program on port \(port): \(printed)")
        }

        // Clients being served right now: a request child of the fork worker, a threads worker's.
        let held = try connectTCP(port: forked)
        defer { held.close() }
        XCTAssertEqual(try ask(held, "x\n"), "x\n")
        let other = try connectTCP(port: threads)
        defer { other.close() }
        XCTAssertEqual(try ask(other, "y\n"), "y\n")
        let tcp = tcpSockets()
        let heldInode = try XCTUnwrap(tcp.first { $0.state == "01" && $0.localPort == forked }?.inode, "\(tcp)")
        let children = allPIDs()
            .filter { parentPID(of: $0).map(workers.contains) ?? false }
            .filter { socketInodes(of: $0).contains(heldInode) }
        XCTAssertEqual(children.count, 1, "one request child serves the held connection")
        for child in children { assertUnprivileged(processStatus(child), "request child \(child)") }

        // The master stays root, and holds listening sockets only: no client's connection.
        XCTAssertEqual(processStatus(daemon.pid)["Uid"], "0\t0\t0\t0")
        let masterSockets = socketInodes(of: daemon.pid)
        let mastersTCP = tcp.filter { masterSockets.contains($0.inode) }
        XCTAssertEqual(mastersTCP.count, 4, "the master holds the four listeners: \(mastersTCP)")
        XCTAssertTrue(mastersTCP.allSatisfy { $0.state == "0A" }, "the master holds a connected socket: \(mastersTCP)")
        let served = tcp.filter { $0.state == "01" && [forked, threads].contains($0.localPort) }
        XCTAssertEqual(served.count, 2, "the two connections, server side: \(tcp)")
        XCTAssertTrue(served.allSatisfy { !masterSockets.contains($0.inode) })
    }

    func testThePluginCheckRunsAsTheUserWithoutCapabilities() throws {
        try requireRoot()
        let goAhead = directory + "/go"
        // The plugin's validate callback waits in the checking child: look at that child.
        let daemon = try startDaemonInsideItsPluginCheck(goAhead: goAhead, daemon: ["user": Self.user])
        let checker = try XCTUnwrap(daemon.workerPIDs().first, "no checking child:\n\(daemon.log)")
        assertUnprivileged(processStatus(checker), "plugin check \(checker)")
        var info = stat()
        XCTAssertEqual(stat(goAhead + ".started", &info), 0)
        XCTAssertEqual(info.st_uid, account.uid, "the plugin's code made its file as the user")
        writeConfig("", to: goAhead)
        try daemon.waitReady()
        XCTAssertEqual(try ask(port: daemon.port, "hi\n"), "v1 C: HI\n")
        XCTAssertEqual(processStatus(daemon.pid)["Uid"], "0\t0\t0\t0")
    }

    /// Starts the daemon as the test's user with CAP_NET_BIND_SERVICE in its ambient set.
    var ambientWrapper: String {
        "exec /usr/bin/setpriv --reuid=\(account.uid) --regid=\(account.gid) --clear-groups "
            + "--inh-caps=+net_bind_service --ambient-caps=+net_bind_service \"$0\" \"$@\";"
    }

    /// The metrics process, as a worker, runs as the user with no capability: started as root,
    /// and started as a normal user with an ambient capability (which the master keeps).
    func testTheMetricsProcessRunsAsTheUserWithoutCapabilities() throws {
        try requireRoot()
        for asUser in [false, true] {
            let port = freePort()
            let config = DaemonConfigBuilder(daemon: ["graceful_timeout": 5, "user": Self.user, "metrics": "tcp://127.0.0.1:\(port)"],
                                             services: [Service("echo", listen: .tcpPort(freePort()), ["workers": 1])])
            let daemon = try startDaemon(config, wrapper: asUser ? ambientWrapper : "")
            // Answering, it has become the user (it serves only after).
            XCTAssertEqual(try scrapeMetrics(.inet(host: "127.0.0.1", port: port)).status, 200)
            let metrics = try XCTUnwrap(daemon.workerPIDs().first { commandLine(of: $0).hasPrefix("socketserverd: metrics") },
                                        daemon.log)
            assertUnprivileged(processStatus(metrics), "metrics process (master as \(asUser ? "a user" : "root"))", fromRoot: !asUser)
            daemon.stop()
        }
    }

    /// As the packaged unit starts it: a normal user with CAP_NET_BIND_SERVICE in its ambient set
    /// (systemd's AmbientCapabilities=). The master keeps it to bind ports below 1024, also on
    /// reload; workers drop it.
    func testStartedAsAUserWithAmbientCapabilitiesTheWorkersDropThem() throws {
        try requireRoot()
        let low = try freeLowPort(), second = try freeLowPort()
        let service = { (name: String, port: Int) in Service(name, handler: "upper", listen: .tcpPort(port), ["workers": 1]) }
        var config = DaemonConfigBuilder(daemon: ["graceful_timeout": 5, "log_level": "debug"], services: [service("low", low)])
        // The daemon binds these itself, with the capability: no socket is passed.
        let daemon = try startDaemon(config, wrapper: ambientWrapper)
        let master = processStatus(daemon.pid)
        XCTAssertEqual(master["Uid"], "\(account.uid)\t\(account.uid)\t\(account.uid)\t\(account.uid)")
        XCTAssertEqual(master["CapAmb"], "0000000000000400", "the master keeps CAP_NET_BIND_SERVICE")
        let workers = servingWorkers(daemon, count: 1)
        XCTAssertEqual(workers.count, 1)
        for worker in workers { assertUnprivileged(processStatus(worker), "worker \(worker)", fromRoot: false) }
        XCTAssertEqual(try tcpRoundTrip(port: low, "one\n"), "ONE\n")

        config.services.append(service("second", second))
        try rewriteConfig(config, for: daemon)
        daemon.signal(SIGHUP)
        XCTAssertTrue(daemon.waitForLog("reloaded: generation 2"), daemon.log)
        XCTAssertEqual(try tcpRoundTrip(port: second, "two\n"), "TWO\n", daemon.log)
        XCTAssertTrue(daemon.waitForLog("service second: worker", count: 1), daemon.log)
        for worker in daemon.workerPIDs() where daemon.log.contains("worker \(worker) serving tcp://") {
            let status = processStatus(worker)
            guard !status.isEmpty else { continue }  // an old-generation worker that has left since
            assertUnprivileged(status, "worker \(worker)", fromRoot: false)
        }
        XCTAssertFalse(daemon.workerPIDs().isEmpty)
    }
}
