// The daemon's two entry points: check a config, or run the master on it.
#if canImport(Glibc)
import Glibc
#endif
import SocketServer

public enum Daemon {
    public static let version = "1.0.0"

    /// The binary this process runs, as its path read at start (after a package upgrade replaced
    /// the file, /proc/self/exe names the old one as deleted; the path names the new one).
    nonisolated(unsafe) static var executablePath = readExecutablePath()
    /// The command line, for the binary upgrade's exec (captured before the process title is set).
    nonisolated(unsafe) static var arguments = CommandLine.arguments

    private static func readExecutablePath() -> String {
        var path = [CChar](repeating: 0, count: 4096)
        let length = readlink("/proc/self/exe", &path, path.count - 1)
        guard length > 0 else { return CommandLine.arguments.first ?? "socketserverd" }
        return String(decoding: path[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func cpuCount() -> Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }

    /// Started with stdin, stdout or stderr closed (a careless init script), the first socket or
    /// log file would take that number, and whatever writes to "stderr" would write into it (an
    /// exec program's errors into a client's connection). /dev/null fills the gaps first.
    static func openMissingStandardDescriptors() {
        for fd: Int32 in 0...2 where fcntl(fd, F_GETFD) < 0 && errno == EBADF {
            let null = open("/dev/null", O_RDWR)
            if null >= 0, null != fd { dup2(null, fd); close(null) }
        }
    }

    /// `--help-config`: every config key per section, with its default, what it applies to and
    /// what it does, from the key table.
    public static func configHelp() -> String { ConfigHelp.text() }

    /// `--check-config`: exit 0 with a success line on stdout; or exit 1 with every problem on
    /// stderr as a plain `file:line: message` line (no timestamp, pid or level: editors and grep
    /// jump to it, as to a compiler's), then a summary line. A problem with no line to point at
    /// (the main file cannot be read) is prefixed with the program's name instead.
    public static func checkConfig(path: String) -> Int32 {
        do {
            let config = try ConfigCheck.load(path: path, catalog: DaemonCatalog(), cpuCount: cpuCount(), forRoot: geteuid() == 0,
                                              listenerChecker: .outside)
            print("socketserverd: the configuration file \(path) syntax is ok (\(config.services.count) services, \(config.files.count) files)")
            return 0
        } catch {
            var report = ""
            for problem in error.errors {
                report += (problem.location == nil ? "socketserverd: " : "") + "\(problem)\n"
            }
            report += "socketserverd: configuration file \(path) test failed: \(error.errors.count) error(s)\n"
            writeStandardError(report)
            return 1
        }
    }

    /// Runs the master until it is stopped; returns the exit status.
    public static func run(configPath: String) -> Int32 {
        SignalPipe.holdDuringStartup()
        openMissingStandardDescriptors()
        _ = (executablePath, arguments)
        ServiceLogTable.prepare()  // before any fork: the workers of a service share its log counters
        let handover: UpgradeHandover?
        do {
            handover = try UpgradeHandover.takeFromEnvironment()
        } catch {
            log.error("cannot resume after an upgrade: \(error)")
            return 1
        }
        let config: DaemonConfig
        do {
            config = try ConfigCheck.load(path: configPath, catalog: DaemonCatalog(), cpuCount: cpuCount(), forRoot: geteuid() == 0)
        } catch {
            for problem in error.errors { log.error("\(problem)") }
            log.error("not starting: \(error.errors.count) error(s) in \(configPath)")
            return 1
        }
        do {
            let arbiter = try Arbiter(configPath: configPath, config: config, catalog: DaemonCatalog(), cpuCount: cpuCount(),
                                      handover: handover)
            return arbiter.run()
        } catch {
            log.error("cannot start: \(error)")
            return 1
        }
    }
}
