// Started as root: the master stays root (root-only files, ports below 1024 on reload) and serves
// no client; workers, request children, exec programs and the plugin check run as `user` with no
// capability at all.
import Foundation
import SocketServer
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
            let output = NSTemporaryDirectory() + "/useradd-\(getpid()).txt"
            defer { unlink(output) }
            let pid = try spawn("/usr/sbin/useradd", ["--system", "--no-create-home", user], env: ["PATH=/usr/sbin:/usr/bin:/bin"],
                                stdout: output, stderr: output)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
            guard getpwnam(user) != nil else {
                throw XCTSkip("cannot create the user \(user): \((try? String(contentsOfFile: output, encoding: .utf8)) ?? "")")
            }
        }
        guard let entry = getpwnam(user) else { throw XCTSkip("no user \(user)") }
        return (entry.pointee.pw_uid, entry.pointee.pw_gid)
    }

    /// `Key: value` lines of /proc/PID/status (values with tabs as the kernel writes them).
    func status(_ pid: pid_t) -> [String: String] {
        statusLines(readProcFile("/proc/\(pid)/status"))
    }

    /// A /proc file read to its end (they report size 0, and one read may not bring it all).
    func readProcFile(_ path: String) -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return "" }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = read(fd, &buffer, buffer.count)
            if count <= 0 { break }
            bytes += buffer[..<count]
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    func statusLines(_ text: String) -> [String: String] {
        var fields: [String: String] = [:]
        for line in text.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields[String(line[..<colon])] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return fields
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

    /// A root-owned, 0600 config in the private directory.
    func writePrivateConfig(_ text: String) -> String {
        let path = writeConfig(text, to: privateDirectory + "/socketserverd.conf")
        chmod(path, 0o600)
        return path
    }

    /// The first port from 700 to 999 that nothing is bound to right now.
    func freeLowPort() throws -> Int {
        for port in 700..<1000 {
            guard let socket = try? Socket(family: .inet, type: .stream) else { continue }
            defer { socket.close() }
            if (try? socket.bind(.inet(host: "127.0.0.1", port: UInt16(port)))) != nil, PortLedger.shared.claim(port) { return port }
        }
        throw XCTSkip("no free TCP port from 700 to 999")
    }

    /// Notifications until one contains `text` (or `timeout`).
    func notifications(of daemon: DaemonProcess, until text: String, timeout: TimeInterval = 15) -> [String] {
        var messages: [String] = []
        let deadline = Date().addingTimeInterval(timeout)
        while !messages.contains(where: { $0.contains(text) }), Date() < deadline { messages += daemon.notifications() }
        return messages
    }

    func testRootOnlyPidFileNotifySocketAndConfigAndALowPortOnReload() throws {
        try requireRoot()
        let port = freePort(), low = try freeLowPort()
        let pidFile = privateDirectory + "/socketserverd.pid"
        let header = "[daemon]\nuser = \(Self.user)\npid_file = \(pidFile)\ngraceful_timeout = 5\n"
        let echo = "[service echo]\nlisten = tcp://127.0.0.1:\(port)\nhandler = echo\nworkers = 1\n"
        let path = writePrivateConfig(header + echo)
        let daemon = try DaemonProcess(configPath: path, directory: privateDirectory)
        daemons.append(daemon)
        XCTAssertTrue(notifications(of: daemon, until: "READY=1").contains { $0.contains("READY=1") }, daemon.log)
        XCTAssertEqual(try String(contentsOfFile: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines),
                       "\(daemon.pid)")
        XCTAssertEqual(try tcpRoundTrip(port: port), "hello\n")

        // HUP re-reads the 0600 config and binds a port below 1024.
        _ = writePrivateConfig(header + echo + "[service low]\nlisten = tcp://127.0.0.1:\(low)\nhandler = upper\nworkers = 1\n")
        daemon.signal(SIGHUP)
        let reload = notifications(of: daemon, until: "generation 2")
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
        let port = freePort()
        let logDirectory = privateDirectory + "/log"
        mkdir(logDirectory, 0o700)
        let logFile = logDirectory + "/socketserverd.log", other = logDirectory + "/other.log"
        func config(_ log: String) -> String {
            "[daemon]\nuser = \(Self.user)\nlog_file = \(log)\nlog_level = debug\ngraceful_timeout = 5\n"
                + "[service echo]\nlisten = tcp://127.0.0.1:\(port)\nhandler = echo\nworkers = 1\n"
        }
        let daemon = try DaemonProcess(configPath: writePrivateConfig(config(logFile)), directory: privateDirectory)
        daemons.append(daemon)
        try daemon.waitReady()
        func contents(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }
        func waitFor(_ text: String, in path: String) -> Bool {
            let deadline = Date().addingTimeInterval(10)
            while !contents(path).contains(text), Date() < deadline { usleep(20_000) }
            return contents(path).contains(text)
        }
        XCTAssertTrue(waitFor(" serving tcp://", in: logFile), contents(logFile))
        let worker = try XCTUnwrap(daemon.workerPIDs().first)
        XCTAssertEqual(status(worker)["Uid"]?.split(separator: "\t").first.map(String.init), "\(account.uid)")
        // logrotate: move the file away, then USR1. The master writes the new file, and so does
        // the worker (its connection lines at debug), which could not open the file itself.
        try FileManager.default.moveItem(atPath: logFile, toPath: logFile + ".1")
        daemon.signal(SIGUSR1)
        XCTAssertTrue(waitFor("[\(daemon.pid)] info: SIGUSR1: log reopened", in: logFile), contents(logFile))
        XCTAssertEqual(try tcpRoundTrip(port: port), "hello\n")
        XCTAssertTrue(waitFor("[\(worker)] debug: service echo: worker \(worker) serving 127.0.0.1:", in: logFile),
                      "the worker's line is not in the new file:\n\(contents(logFile))\nold:\n\(contents(logFile + ".1"))")
        XCTAssertFalse(contents(logFile + ".1").contains("log reopened"))

        // A reload to another file in the same directory: the new generation writes there too.
        _ = writePrivateConfig(config(other))
        daemon.signal(SIGHUP)
        XCTAssertTrue(waitFor("reloaded: generation 2", in: other), contents(other) + daemon.log)
        XCTAssertEqual(try tcpRoundTrip(port: port), "hello\n")
        XCTAssertTrue(waitFor("debug: service echo: worker", in: other), contents(other))
        for path in [logFile + ".1", logFile, other] { XCTAssertFalse(contents(path).contains("error:"), contents(path)) }
    }

    func testWorkersRequestChildrenAndExecProgramsRunAsTheUserWithoutCapabilities() throws {
        try requireRoot()
        let threads = freePort(), forked = freePort(), exec = freePort(), execForked = freePort()
        let script = directory + "/status.sh"
        writeConfig("#!/bin/sh\nexec grep -E '^(Uid|Gid|Groups|Cap[A-Za-z]+|NoNewPrivs):' /proc/self/status\n", to: script)
        chmod(script, 0o755)
        let daemon = try startDaemon("""
            [daemon]
            user = \(Self.user)
            log_level = debug
            [service threads]
            listen = tcp://127.0.0.1:\(threads)
            handler = echo
            workers = 1
            [service forked]
            listen = tcp://127.0.0.1:\(forked)
            handler = echo
            workers = 1
            concurrency = fork
            [service exec]
            listen = tcp://127.0.0.1:\(exec)
            handler = exec
            command = \(script)
            workers = 1
            [service execforked]
            listen = tcp://127.0.0.1:\(execForked)
            handler = exec
            command = \(script)
            workers = 1
            concurrency = fork
            """)
        let workers = servingWorkers(daemon, count: 4)
        XCTAssertEqual(workers.count, 4)
        for worker in workers { assertUnprivileged(status(worker), "worker \(worker)") }

        for port in [exec, execForked] {
            let client = try createConnection(host: "127.0.0.1", port: port, timeout: .seconds(5))
            defer { client.close() }
            let printed = String(decoding: try readAll(client), as: UTF8.self)
            assertUnprivileged(statusLines(printed), "exec program on port \(port): \(printed)")
        }

        // Clients being served right now: a request child of the fork worker, a threads worker's.
        let held = try createConnection(host: "127.0.0.1", port: forked, timeout: .seconds(5))
        defer { held.close() }
        try held.sendAll("x\n")
        XCTAssertEqual(try held.recv(2), Array("x\n".utf8))
        let other = try createConnection(host: "127.0.0.1", port: threads, timeout: .seconds(5))
        defer { other.close() }
        try other.sendAll("y\n")
        XCTAssertEqual(try other.recv(2), Array("y\n".utf8))
        let tcp = tcpSockets()
        let heldInode = try XCTUnwrap(tcp.first { $0.state == "01" && $0.localPort == forked }?.inode, "\(tcp)")
        let children = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { pid_t($0) }
            .filter { DaemonProcess.parentPID(of: $0).map(workers.contains) ?? false }
            .filter { socketInodes(of: $0).contains(heldInode) }
        XCTAssertEqual(children.count, 1, "one request child serves the held connection")
        for child in children { assertUnprivileged(status(child), "request child \(child)") }

        // The master stays root, and holds listening sockets only: no client's connection.
        XCTAssertEqual(status(daemon.pid)["Uid"], "0\t0\t0\t0")
        let masterSockets = socketInodes(of: daemon.pid)
        let mastersTCP = tcp.filter { masterSockets.contains($0.inode) }
        XCTAssertEqual(mastersTCP.count, 4, "the master holds the four listeners: \(mastersTCP)")
        XCTAssertTrue(mastersTCP.allSatisfy { $0.state == "0A" }, "the master holds a connected socket: \(mastersTCP)")
        let served = tcp.filter { $0.state == "01" && [forked, threads].contains($0.localPort) }
        XCTAssertEqual(served.count, 2, "the two connections, server side: \(tcp)")
        XCTAssertTrue(served.allSatisfy { !masterSockets.contains($0.inode) })
    }

    /// The inodes of process `pid`'s sockets (/proc/PID/fd links `socket:[INODE]`).
    func socketInodes(of pid: pid_t) -> Set<String> {
        let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")) ?? []
        return Set(fds.compactMap { fd in
            guard let link = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\(fd)"),
                  link.hasPrefix("socket:[") else { return nil }
            return String(link.dropFirst("socket:[".count).dropLast())
        })
    }

    /// Every TCP socket of the system: state (hex, 0A = LISTEN, 01 = ESTABLISHED), local port, inode.
    func tcpSockets() -> [(state: String, localPort: Int, inode: String)] {
        ["/proc/net/tcp", "/proc/net/tcp6"].flatMap { path -> [(state: String, localPort: Int, inode: String)] in
            return readProcFile(path).split(separator: "\n").dropFirst().compactMap { line in
                let fields = line.split(separator: " ")
                guard fields.count > 9, let port = fields[1].split(separator: ":").last.flatMap({ Int($0, radix: 16) })
                else { return nil }
                return (String(fields[3]), port, String(fields[9]))
            }
        }
    }

    func testThePluginCheckRunsAsTheUserWithoutCapabilities() throws {
        try requireRoot()
        let port = freePort()
        let goAhead = directory + "/go"
        try compileCPlugin(defines: ["SLOW_CHECK=\"\(goAhead)\""])
        let path = writeConfig("[daemon]\nuser = \(Self.user)\n" + pluginHeader([("ctest", "libctest.so")]) + """
            [service shout]
            listen = tcp://127.0.0.1:\(port)
            handler = ctest.shout
            repeat = 1
            workers = 1
            """, to: configDirectory + "/socketserverd.conf")
        let daemon = try DaemonProcess(configPath: path, directory: directory)
        daemons.append(daemon)
        // The plugin's validate callback waits in the checking child: look at that child.
        let deadline = Date().addingTimeInterval(20)
        while !FileManager.default.fileExists(atPath: goAhead + ".started"), Date() < deadline {
            XCTAssertNil(daemon.reapIfExited(), daemon.log)
            usleep(10_000)
        }
        let checker = try XCTUnwrap(daemon.workerPIDs().first, "no checking child:\n\(daemon.log)")
        assertUnprivileged(status(checker), "plugin check \(checker)")
        var info = stat()
        XCTAssertEqual(stat(goAhead + ".started", &info), 0)
        XCTAssertEqual(info.st_uid, account.uid, "the plugin's code made its file as the user")
        writeConfig("", to: goAhead)
        try daemon.waitReady()
        XCTAssertEqual(try ask(port: port, "hi\n"), "v1 C: HI\n")
        XCTAssertEqual(status(daemon.pid)["Uid"], "0\t0\t0\t0")
    }

    /// As the packaged unit starts it: a normal user with CAP_NET_BIND_SERVICE in its ambient set
    /// (systemd's AmbientCapabilities=). The master keeps it to bind ports below 1024, also on
    /// reload; workers drop it.
    func testStartedAsAUserWithAmbientCapabilitiesTheWorkersDropThem() throws {
        try requireRoot()
        let low = try freeLowPort(), second = try freeLowPort()
        let service = { (name: String, port: Int) in "[service \(name)]\nlisten = tcp://127.0.0.1:\(port)\nhandler = upper\nworkers = 1\n" }
        let header = "[daemon]\ngraceful_timeout = 5\nlog_level = debug\n"
        let path = writeConfig(header + service("low", low), to: configDirectory + "/socketserverd.conf")
        let setpriv = "exec /usr/bin/setpriv --reuid=\(account.uid) --regid=\(account.gid) --clear-groups "
            + "--inh-caps=+net_bind_service --ambient-caps=+net_bind_service \"$0\" \"$@\";"
        let daemon = try DaemonProcess(configPath: path, directory: directory, wrapper: setpriv)
        daemons.append(daemon)
        try daemon.waitReady()
        let master = status(daemon.pid)
        XCTAssertEqual(master["Uid"], "\(account.uid)\t\(account.uid)\t\(account.uid)\t\(account.uid)")
        XCTAssertEqual(master["CapAmb"], "0000000000000400", "the master keeps CAP_NET_BIND_SERVICE")
        let workers = servingWorkers(daemon, count: 1)
        XCTAssertEqual(workers.count, 1)
        for worker in workers { assertUnprivileged(status(worker), "worker \(worker)", fromRoot: false) }
        XCTAssertEqual(try tcpRoundTrip(port: low, "one\n"), "ONE\n")

        writeConfig(header + service("low", low) + service("second", second), to: path)
        daemon.signal(SIGHUP)
        XCTAssertTrue(daemon.waitForLog("reloaded: generation 2"), daemon.log)
        XCTAssertEqual(try tcpRoundTrip(port: second, "two\n"), "TWO\n", daemon.log)
        XCTAssertTrue(daemon.waitForLog("service second: worker", count: 1), daemon.log)
        for worker in daemon.workerPIDs() where daemon.log.contains("worker \(worker) serving tcp://") {
            assertUnprivileged(status(worker), "worker \(worker)", fromRoot: false)
        }
    }
}
