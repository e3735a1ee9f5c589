// exec: the inetd-style handler. Each request runs a program with the connection (or datagram)
// as its standard input and output.
#if canImport(Glibc)
import Glibc
#endif
import CSocketServerShims
import SocketServer

/// Stream: the program's stdin and stdout are the connection itself. Datagram: the datagram is its
/// stdin and its stdout (if any) is sent back to the sender as one datagram. Its stderr goes to the
/// log, line by line, at `info`. It runs in its settings' directory (`/`, as inetd's programs,
/// unless the service's `directory` says otherwise) and sees only a clean environment (PATH,
/// REMOTE_ADDR, REMOTE_PORT, SERVICE).
/// Its exit status is logged; it is always reaped; past the service's `timeout` its whole process
/// group is killed, and so is whatever it leaves running in that group when it exits (a background
/// job keeping its stdout or stderr open would otherwise hold the request until the timeout). It
/// inherits no descriptor beyond 0, 1 and 2, even ones the daemon inherited without FD_CLOEXEC.
enum ExecRunner {
    /// The config keys: `command` (required), an absolute program path and its arguments.
    static let keys: [String: String?] = ["command": nil]
    static let keyDocs = ["command": "an absolute program path, then its arguments ('...' and \"...\" quote; no expansion)"]

    static func validate(_ options: [String: String]) -> [(key: String, problem: String)] {
        guard let text = options["command"] else { return [("command", "missing")] }
        switch ExecCommand.parse(text) {
        case .failure(let error): return [("command", error.description)]
        case .success(let command): return command.fileProblem().map { [("command", $0)] } ?? []
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

    /// Runs the command for one request; throws only when it cannot be started.
    static func run(_ handler: BaseRequestHandler, _ settings: ExecSettings, stdin: Int32, stdout: Int32) throws {
        guard !settings.program.isEmpty else { throw ExecCommandError("no command configured") }
        let command = ExecCommand(program: settings.program, arguments: settings.arguments)
        let process = try ExecProcess.spawn(command, directory: settings.directory, stdin: stdin, stdout: stdout,
                                            environment: environment(handler))
        handler.host?.requestStartedProcessGroup(process.pid)
        let name = command.program.split(separator: "/").last.map(String.init) ?? command.program
        // The record goes before the reap: once reaped, the group id may be reused, and the master
        // kills recorded groups when a worker dies.
        let (status, timedOut) = process.wait(limit: handler.host?.idleTimeout,
                                              beforeReaping: { handler.host?.requestStartedProcessGroup(0) }) { line in
            handler.log(.info, "\(name)[\(process.pid)] stderr: \(line)")
        }
        let signal = status & 0x7f
        let code = (status >> 8) & 0xff
        if timedOut {
            handler.log(.warning, "\(name)[\(process.pid)] killed: still running after the service's timeout")
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
        let fd = request.fileno()
        // The program gets a blocking descriptor, whatever the server's timeout made of it.
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
        try ExecRunner.run(self, settings, stdin: fd, stdout: fd)
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
        // Collect stdout on a thread while the program runs, so a chatty program cannot block.
        let reader = PipeCollector(fd: output[0])
        defer { reader.finish() }
        do {
            try ExecRunner.run(self, settings, stdin: input[0], stdout: output[1])
        } catch {
            close(input[0]); close(output[1])
            throw error
        }
        close(input[0])
        close(output[1])
        let reply = reader.finish()
        if !reply.isEmpty, clientCanReceiveReplies { try request.sendTo(reply, clientAddress) }
    }
}

/// Reads a pipe to its end on its own thread (at most one datagram's worth is kept).
final class PipeCollector: @unchecked Sendable {
    private let fd: Int32
    private var bytes: [UInt8] = []
    private var thread: PosixThread? = nil
    private var done = false

    init(fd: Int32) {
        self.fd = fd
        thread = try? PosixThread.start { [self] in
            var buffer = [UInt8](repeating: 0, count: 4096)
            while let count = try? retryingOnInterrupt({ read(fd, &buffer, buffer.count) }), count > 0 {
                if bytes.count < 65507 { bytes += buffer[..<min(count, 65507 - bytes.count)] }
            }
        }
    }

    /// Waits for end of file and returns what was read (idempotent).
    @discardableResult
    func finish() -> [UInt8] {
        if !done {
            thread?.join()
            close(fd)
            done = true
        }
        return bytes
    }
}
