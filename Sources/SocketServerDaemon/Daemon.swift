// The daemon's two entry points: check a config, or run the master on it.
#if canImport(Glibc)
import Glibc
#endif
import SocketServer

public enum Daemon {
    public static let version = "1.0.0"

    static func cpuCount() -> Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }

    /// `--check-config`: every problem with file:line on stderr, exit 1; or a success line, exit 0.
    public static func checkConfig(path: String) -> Int32 {
        do {
            let config = try ConfigCheck.load(path: path, catalog: DaemonCatalog(), cpuCount: cpuCount(), forRoot: geteuid() == 0)
            print("socketserverd: the configuration file \(path) syntax is ok (\(config.services.count) services, \(config.files.count) files)")
            return 0
        } catch {
            for problem in error.errors { log.error("\(problem)") }
            log.error("configuration file \(path) test failed: \(error.errors.count) error(s)")
            return 1
        }
    }

    /// Runs the master until it is stopped; returns the exit status.
    public static func run(configPath: String) -> Int32 {
        SignalPipe.holdDuringStartup()
        let config: DaemonConfig
        do {
            config = try ConfigCheck.load(path: configPath, catalog: DaemonCatalog(), cpuCount: cpuCount(), forRoot: geteuid() == 0)
        } catch {
            for problem in error.errors { log.error("\(problem)") }
            log.error("not starting: \(error.errors.count) error(s) in \(configPath)")
            return 1
        }
        do {
            let arbiter = try Arbiter(configPath: configPath, config: config, catalog: DaemonCatalog(), cpuCount: cpuCount())
            return arbiter.run()
        } catch {
            log.error("cannot start: \(error)")
            return 1
        }
    }
}
