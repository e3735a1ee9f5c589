// exec: the inetd-style handler. Each request runs a program with the connection (or datagram)
// as its standard input and output.
#if canImport(Glibc)
import Glibc
#endif
import CSocketServerShims
import SocketServer

/// Stream: the program's stdin and stdout are the connection itself, unless the connection is a
/// Unix socket with an idle limit: then they are one end of a socket pair, whose other end the
/// handler relays to and from the connection, so that it sees when data last moved. Datagram: the
/// datagram is its stdin and its stdout (if any) is sent back to the sender as one datagram. Its stderr goes to the log, line by line, at `info`.
/// It runs in its settings' directory (`/`, as inetd's programs, unless the service's `directory`
/// says otherwise) and sees only a clean environment (PATH, REMOTE_ADDR, REMOTE_PORT, SERVICE).
/// Its exit status is logged; it is always reaped; once no data moved either way for the request
/// socket's timeout (the service's `timeout`; for a datagram, no output), its whole process group
/// is killed, and so is whatever it leaves running in that group when it exits (a background job
/// keeping its stdout or stderr open would otherwise hold the request until then). It inherits no
/// descriptor beyond 0, 1 and 2, even ones the daemon inherited without FD_CLOEXEC.
enum ExecRunner {
    /// The config keys: `command` (required), an absolute program path and its arguments, and
    /// `directory`, the programs' working directory.
    static let keys: [String: String?] = ["command": nil, WorkingDirectory.key: WorkingDirectory.defaultValue]
    static let keyDocs = [
        "command": "an absolute program path, then its arguments ('...' and \"...\" quote; no expansion)",
        WorkingDirectory.key: WorkingDirectory.doc,
    ]

    static func validate(_ options: [String: String]) -> [(key: String, problem: String)] {
        var problems: [(key: String, problem: String)] = []
        if let problem = WorkingDirectory.problem(options[WorkingDirectory.key] ?? WorkingDirectory.defaultValue) {
            problems.append((WorkingDirectory.key, problem))
        }
        guard let text = options["command"] else { return [("command", "missing")] + problems }
        switch ExecCommand.parse(text) {
        case .failure(let error): return [("command", error.description)] + problems
        case .success(let command): return (command.fileProblem().map { [("command", $0)] } ?? []) + problems
        }
    }

    static func environment(_ handler: BaseRequestHandler) -> [String] {
        var env = ["PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8"]
        switch handler.clientAddress {
        case .inet(let host, let port), .inet6(let host, let port, _, _):
            env += ["REMOTE_ADDR=\(host)", "REMOTE_PORT=\(port)"]
        case .unix(let path):
            env += ["REMOTE_ADDR=\(handler.clientAddress.isAbstract || path.isEmpty ? "" : path)"]
        }
        if let host = handler.host { env.append("SERVICE=\(host.serviceName)") }
        return env
    }

    /// The idle limit of a request: its socket's timeout, or its kernel wait limit (the daemon's
    /// `timeout`); nil for none.
    static func idleLimit(_ socket: Socket) -> Duration? {
        (socket.timeout ?? socket.idleTimeout).flatMap { $0 > .zero ? $0 : nil }
    }

    /// Runs `settings`' program for one request with `stdin` and `stdout`, which `spawned` closes
    /// once the program has them, relaying `relay` while it runs, and killing it after `idle` with
    /// no data either way; throws only when it cannot be started.
    static func run(_ handler: BaseRequestHandler, _ settings: ExecSettings, idle: Duration?, stdin: Int32, stdout: Int32,
                    relay: inout ExecRelay, spawned: () -> Void) throws {
        guard !settings.program.isEmpty else { throw ExecCommandError("no command configured") }
        let command = ExecCommand(program: settings.program, arguments: settings.arguments)
        let process = try ExecProcess.spawn(command, directory: settings.directory, stdin: stdin, stdout: stdout,
                                            environment: environment(handler))
        spawned()  // the program's ends are its own: its closing them ends what the relay reads
        handler.host?.requestStartedProcessGroup(process.pid)
        let name = command.program.split(separator: "/").last.map(String.init) ?? command.program
        // The record goes before the reap: once reaped, the group id may be reused, and the master
        // kills recorded groups when a worker dies.
        let (status, timedOut) = process.wait(idle: idle, relay: &relay,
                                              beforeReaping: { handler.host?.requestStartedProcessGroup(0) }) { line in
            handler.log(.info, "\(name)[\(process.pid)] stderr: \(line)")
        }
        let signal = status & 0x7f
        let code = (status >> 8) & 0xff
        if timedOut, let idle {
            handler.log(.warning, "\(name)[\(process.pid)] killed: no data either way for \(idle) (the service's timeout)")
        } else if signal != 0 {
            handler.log(.warning, "\(name)[\(process.pid)] was killed by signal \(signal)")
        } else if code != 0 {
            handler.log(.warning, "\(name)[\(process.pid)] exited with status \(code)")
        } else {
            handler.log(.debug, "\(name)[\(process.pid)] exited with status 0")
        }
    }
}

/// exec over a stream: the connection is the program's stdin and stdout. Configured by its
/// `settings` (override them in a subclass; the default is the server's `handlerSettings`).
open class ExecStreamHandler: BaseRequestHandler {
    public typealias Settings = ExecSettings

    /// The program, its arguments and its working directory.
    open var settings: Settings { host?.handlerSettings as? Settings ?? Settings(program: "") }

    override public func handle() throws {
        let settings = settings
        // The program gets the connection itself (as inetd's do) when nothing needs the relay:
        // no idle limit, or a TCP connection, whose kernel counters say when data last moved.
        // Only a Unix connection with an idle limit is relayed.
        let idle = ExecRunner.idleLimit(request)
        let connection = request.fileno()
        if idle == nil || request.family != .unix {
            // Its stdin and stdout share the connection's file status flags and socket options:
            // blocking and without the kernel's wait limit, as a program expects (the handler
            // watches the idle time itself).
            try request.setNonBlockingFlag(false)
            if request.idleTimeout != nil { try request.setIdleTimeout(nil) }
            var relay = ExecRelay(direct: connection, watch: idle != nil)
            try ExecRunner.run(self, settings, idle: idle, stdin: connection, stdout: connection, relay: &relay, spawned: {})
            return
        }
        let (mine, program) = try Socket.pair()
        defer {
            mine.close()
            program.close()
        }
        try mine.setNonBlockingFlag(true)
        // The connection keeps its timeout (the idle limit); a blocking one gets a non-blocking descriptor.
        if request.timeout == nil { try request.setNonBlockingFlag(true) }
        var relay = ExecRelay(input: RelayFlow(from: request.fileno(), to: mine.fileno()),
                              output: RelayFlow(from: mine.fileno(), to: request.fileno()))
        try ExecRunner.run(self, settings, idle: idle, stdin: program.fileno(), stdout: program.fileno(), relay: &relay,
                           spawned: program.close)
    }
}

/// exec over datagrams: the datagram is the program's stdin, its stdout the reply.
open class ExecDatagramHandler: BaseRequestHandler {
    public typealias Settings = ExecSettings

    /// The program, its arguments and its working directory.
    open var settings: Settings { host?.handlerSettings as? Settings ?? Settings(program: "") }

    override public func handle() throws {
        let settings = settings
        var input: [Int32] = [-1, -1]
        var output: [Int32] = [-1, -1]
        guard cssd_pipe_cloexec(&input, 0) == 0 else { throw SocketError.system(call: "pipe", errno: errno) }
        guard cssd_pipe_cloexec(&output, 0) == 0 else {
            close(input[0]); close(input[1])
            throw SocketError.system(call: "pipe", errno: errno)
        }
        // A datagram fits a pipe's buffer (64 KiB), so writing it before the program reads is safe.
        _ = packet.withUnsafeBytes { write(input[1], $0.baseAddress, $0.count) }
        close(input[1])
        var programEnds = [input[0], output[1]]
        defer {
            programEnds.forEach { close($0) }
            close(output[0])
        }
        // The reply is read as the program writes it, so a chatty program cannot block.
        _ = fcntl(output[0], F_SETFL, fcntl(output[0], F_GETFL) | O_NONBLOCK)
        var relay = ExecRelay(input: nil, output: RelayFlow(from: output[0], to: nil))
        try ExecRunner.run(self, settings, idle: ExecRunner.idleLimit(request), stdin: input[0], stdout: output[1], relay: &relay) {
            programEnds.forEach { close($0) }
            programEnds = []
        }
        let reply = relay.output?.bytes ?? []
        if !reply.isEmpty, clientCanReceiveReplies { try request.sendTo(reply, clientAddress) }
    }
}
