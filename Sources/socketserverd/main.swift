// socketserverd: the entry point. Parses arguments and hands over to the daemon.
#if canImport(Glibc)
import Glibc
#endif
import SocketServer
import SocketServerDaemon

// A crashing worker should die at once and be replaced, not spend seconds in Swift's backtracer
// (which also floods the log). The runtime reads SWIFT_BACKTRACE when the process starts, so set
// it and start again, once; an operator who sets SWIFT_BACKTRACE keeps their choice.
if getenv("SWIFT_BACKTRACE") == nil {
    setenv("SWIFT_BACKTRACE", "enable=no", 1)
    // Bind every library's symbols as the process starts, not on first call: workers and their
    // request children (concurrency = fork) inherit them bound, where each request child would
    // otherwise look up, through every loaded library, each symbol its worker had not called yet.
    // An operator's own LD_BIND_NOW is kept. (Programs the daemon runs get their own environment.)
    setenv("LD_BIND_NOW", "1", 0)
    // Exec the binary by its real path, so the process keeps its name ("socketserverd", not "exe").
    var path = [CChar](repeating: 0, count: 4096)
    let length = readlink("/proc/self/exe", &path, path.count - 1)
    if length > 0 { execv(path, CommandLine.unsafeArgv) }
    // exec failed: carry on with the backtracer enabled.
}

let arguments: Arguments
switch Arguments.parse(Array(CommandLine.arguments.dropFirst())) {
case .success(let parsed): arguments = parsed
case .failure(let error):
    writeStandardError("socketserverd: \(error)\n\(Arguments.usage)")
    exit(2)
}
if arguments.showHelp {
    print(Arguments.usage)
    exit(0)
}
if arguments.showConfigHelp {
    print(Daemon.configHelp(), terminator: "")
    exit(0)
}
if arguments.showVersion {
    print("socketserverd \(Daemon.version)")
    exit(0)
}
switch arguments.command {
case .status(let json)?: exit(Daemon.status(configPath: arguments.configPath, json: json))
case .scale(let service, let workers)?: exit(Daemon.scale(configPath: arguments.configPath, service: service, workers: workers))
case nil: break
}
exit(arguments.checkOnly ? Daemon.checkConfig(path: arguments.configPath) : Daemon.run(configPath: arguments.configPath))
