// socketserverd: the entry point. Parses arguments and hands over to the daemon.
#if canImport(Glibc)
import Glibc
#endif
import SocketServerDaemon

let arguments: Arguments
switch Arguments.parse(Array(CommandLine.arguments.dropFirst())) {
case .success(let parsed): arguments = parsed
case .failure(let error):
    writeStandardErrorLine("socketserverd: \(error)\n\(Arguments.usage)")
    exit(2)
}
if arguments.showHelp {
    print(Arguments.usage)
    exit(0)
}
if arguments.showVersion {
    print("socketserverd \(Daemon.version)")
    exit(0)
}
exit(arguments.checkOnly ? Daemon.checkConfig(path: arguments.configPath) : Daemon.run(configPath: arguments.configPath))

func writeStandardErrorLine(_ text: String) {
    let bytes = Array((text + "\n").utf8)
    _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
}
