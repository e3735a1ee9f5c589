// Plugins across HUP: a rebuilt plugin is picked up without restarting the master; a bad one on
// reload leaves the old configuration serving; one that breaks at run time fails its workers,
// which are logged and retried, never the master.
import Foundation
import SocketServer
import SocketServerTestSupport
import XCTest

final class PluginReloadTests: PluginTestCase {
    /// The C plugin's shout service with two workers, answering as built (tag v1).
    func startShout(file: StaticString = #filePath, line: UInt = #line) throws -> DaemonProcess {
        try compileCPlugin()
        let daemon = try startDaemon(ctestConfig("shout", ["workers": 2]))
        XCTAssertEqual(try ask(port: daemon.port, "ping\n"), "v1 C: PING\n", file: file, line: line)
        return daemon
    }

    /// Rebuilds the plugin with `defines` and sends HUP; the STATUS line the reload ends with
    /// (`generation N` once it took, `reload failed; …` if the new plugin was refused).
    func rebuildAndReload(_ daemon: DaemonProcess, defines: [String], expecting status: String) throws -> String? {
        try compileCPlugin(defines: defines)
        daemon.signal(SIGHUP)
        return daemon.waitForStatus(status)
    }

    /// Asks until the reply starts with `tag` (old workers may answer until they have retired).
    func waitForReply(port: Int, tag: String, within limit: Duration = .seconds(10)) -> String {
        var last = ""
        eventually(within: limit, every: .milliseconds(50)) {
            last = (try? ask(port: port, "ping\n")) ?? "(no answer)"
            return last.hasPrefix(tag)
        }
        return last
    }

    /// Starts a daemon on the plugin, rebuilds it with a check that waits for the file `goAhead`,
    /// sends HUP and returns once the reload's check has begun.
    private func reloadWithASlowPluginCheck(workers: Int) throws -> (DaemonProcess, port: Int, goAhead: String) {
        try compileCPlugin()
        let daemon = try startDaemon(ctestConfig("shout", ["repeat": 1, "workers": workers]))
        let goAhead = directory + "/go"
        try compileCPlugin(defines: ["SLOW_CHECK=\"\(goAhead)\""])
        daemon.signal(SIGHUP)
        XCTAssertTrue(eventually(within: .seconds(20)) { fileExists(goAhead + ".started") }, "the reload's check never began")
        return (daemon, daemon.port, goAhead)
    }

    /// A reload checks plugins in a child, which can take seconds; meanwhile the master still
    /// reaps and replaces a worker that dies.
    func testWorkersAreSupervisedWhileAReloadChecksPlugins() throws {
        let (daemon, port, goAhead) = try reloadWithASlowPluginCheck(workers: 2)

        let victim = try XCTUnwrap(daemon.workerPIDs().first)
        kill(victim, SIGKILL)
        XCTAssertTrue(daemon.waitForLog("worker \(victim) (service shout) was killed by SIGKILL"), daemon.log)
        XCTAssertTrue(daemon.waitForLog("started for service shout", count: 3), "not replaced during the check:\n\(daemon.log)")
        XCTAssertFalse(daemon.log.contains("reloaded: generation 2"), "the check had already finished:\n\(daemon.log)")

        writeConfig("", to: goAhead)
        XCTAssertNotNil(daemon.waitForStatus("generation 2", within: .seconds(20)), daemon.log)
        XCTAssertTrue(daemon.log.contains("reloaded: generation 2"), daemon.log)
        XCTAssertEqual(waitForReply(port: port, tag: "v1"), "v1 C: PING\n", daemon.log)
    }

    /// TERM during a reload's slow plugin check abandons the check (its child is killed) and stops
    /// the daemon at once, instead of after the check (up to 20 s per hung plugin).
    func testTermDuringAReloadsPluginCheckAbandonsItAndStops() throws {
        // The go-ahead file is never created: the check would wait for its 20 s limit.
        let (daemon, _, _) = try reloadWithASlowPluginCheck(workers: 1)
        // An impatient operator: another reload, then a stop. The stop goes first; the HUP is moot.
        daemon.signal(SIGHUP)
        daemon.signal(SIGTERM)
        XCTAssertEqual(daemon.waitExit(within: .seconds(10)), 0, daemon.log)
        XCTAssertTrue(daemon.log.contains("reload abandoned: the plugin check was abandoned: SIGTERM arrived"), daemon.log)
        XCTAssertFalse(daemon.log.contains("did not finish within"), daemon.log)
        XCTAssertTrue(daemon.log.contains("SIGTERM: graceful stop"), daemon.log)
        XCTAssertTrue(daemon.log.contains("SIGHUP ignored: the daemon is stopping"), daemon.log)
        XCTAssertEqual(daemon.log.components(separatedBy: "SIGHUP: reloading").count - 1, 1, daemon.log)
    }

    func testRebuiltPluginIsPickedUpOnHUP() throws {
        let daemon = try startShout()
        let port = daemon.port

        XCTAssertNotNil(try rebuildAndReload(daemon, defines: ["REPLY_TAG=\"v2\""], expecting: "generation 2"), daemon.log)
        XCTAssertTrue(daemon.log.contains("reloaded: generation 2"), daemon.log)
        XCTAssertEqual(waitForReply(port: port, tag: "v2"), "v2 C: PING\n", daemon.log)
        // Once the old generation is gone, every answer comes from the rebuilt plugin.
        XCTAssertTrue(daemon.waitForLog("exited with status 0", count: 2), daemon.log)
        for _ in 0..<10 { XCTAssertEqual(try ask(port: port, "ping\n"), "v2 C: PING\n") }
        XCTAssertNil(daemon.reapIfExited(), "the master kept running")
        XCTAssertFalse(mappedFiles(daemon.pid).contains(pluginDirectory + "/libctest.so"), "the master mapped the plugin")
    }

    func testBadPluginOnReloadKeepsTheOldConfigServing() throws {
        let daemon = try startShout()
        let port = daemon.port

        // A plugin that crashes whoever loads it: the checking child dies, the master does not.
        XCTAssertNotNil(try rebuildAndReload(daemon, defines: ["CRASH_ON_LOAD"], expecting: "reload failed"), daemon.log)
        XCTAssertTrue(daemon.log.contains("reload failed"), daemon.log)
        XCTAssertTrue(daemon.log.contains("socketserverd.conf:6: plugin 'ctest': the process checking it was killed by SIGSEGV"),
                      daemon.log)
        XCTAssertEqual(try ask(port: port, "ping\n"), "v1 C: PING\n")

        // A plugin built for another ABI.
        XCTAssertNotNil(try rebuildAndReload(daemon, defines: ["WRONG_ABI"], expecting: "reload failed"), daemon.log)
        XCTAssertTrue(daemon.log.components(separatedBy: "reload failed").count - 1 >= 2, daemon.log)
        XCTAssertTrue(daemon.log.contains("socketserverd.conf:6: plugin 'ctest':") && daemon.log.contains("ABI version 99"),
                      daemon.log)
        for _ in 0..<10 { XCTAssertEqual(try ask(port: port, "ping\n"), "v1 C: PING\n") }
        XCTAssertNil(daemon.reapIfExited())
        XCTAssertFalse(daemon.log.contains("reloaded: generation 2"), daemon.log)
    }

    func testPluginCrashingInARequestCostsOnlyItsWorker() throws {
        let daemon = try startShout()
        let port = daemon.port
        let before = Set(daemon.workerPIDs())
        XCTAssertEqual((try? ask(port: port, "segfault\n")) ?? "", "", "a crashed worker sends no reply")
        XCTAssertTrue(daemon.waitForLog("was killed by SIGSEGV"), daemon.log)
        XCTAssertEqual(waitForReply(port: port, tag: "v1"), "v1 C: PING\n", daemon.log)
        XCTAssertNil(daemon.reapIfExited(), "the master survived")
        XCTAssertNotEqual(Set(daemon.workerPIDs()), before, "the crashed worker was replaced")
    }

    func testPluginBrokenAtRunTimeFailsWorkersNotTheMaster() throws {
        let daemon = try startShout()
        let port = daemon.port

        // Replaced behind the daemon's back: the next workers cannot load it.
        try compileCPlugin(defines: ["WRONG_ABI"])
        for pid in daemon.workerPIDs() { kill(pid, SIGKILL) }
        XCTAssertTrue(daemon.waitForLog("ABI version 99"), daemon.log)
        XCTAssertTrue(daemon.waitForLog("worker cannot start"), daemon.log)
        XCTAssertTrue(daemon.log.contains("plugin 'ctest' (") && daemon.log.contains("socketserverd.conf:6)"), daemon.log)
        XCTAssertNil(daemon.reapIfExited(), "the master survived")

        // Fixed: the crash back-off starts workers again, and they serve.
        try compileCPlugin(defines: ["REPLY_TAG=\"v3\""])
        XCTAssertEqual(waitForReply(port: port, tag: "v3", within: .seconds(20)), "v3 C: PING\n", daemon.log)
        XCTAssertNil(daemon.reapIfExited())
    }
}
