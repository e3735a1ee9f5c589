// Starting one program worker: the master forks, the child becomes the workers' user without
// capabilities, then (in C, with system calls only) takes the listening socket as descriptor 3,
// its own process group, LISTEN_PID and default signals, and executes the program. A pipe that
// closes on exec tells the master whether the exec happened.
#if canImport(Glibc)
import Glibc
#endif
import CSocketServerShims
import SocketServer
import SocketServerHandlers

/// A program that was forked: its pid, the read end of its output pipe (non-blocking), its
/// notification socket (-1 without `ready = notify`), and why it could not execute, if it could not.
struct LaunchedProgram {
    let pid: pid_t
    let output: Int32
    let notify: Int32
    let failure: String?
}

enum ProgramLaunch {
    static let defaultPath = "/usr/local/bin:/usr/bin:/bin"

    /// Forks and executes `settings`' program for `service` on `socket`. Throws when nothing could
    /// be forked; an exec that fails is reported in `failure` (the child exits with
    /// `WorkerProcess.startupFailure`, and the master backs off).
    static func start(service: String, settings: ProgramSettings, socket: Socket, masterPID: pid_t,
                      credentials: Credentials?) throws(DaemonError) -> LaunchedProgram {
        var output: [Int32] = [-1, -1]
        var status: [Int32] = [-1, -1]
        guard cssd_pipe_cloexec(&output, 0) == 0 else { throw .system("pipe for a program's output", errno) }
        guard cssd_pipe_cloexec(&status, 0) == 0 else {
            let code = errno
            close(output[0]); close(output[1])
            throw .system("pipe", code)
        }
        let input = open("/dev/null", O_RDONLY | O_CLOEXEC)
        var notify: Int32 = -1
        var notifyName = [CChar](repeating: 0, count: 128)
        if settings.readiness == .notify {
            notify = cssd_notify_socket(&notifyName, Int32(notifyName.count))
        }
        let failedEarly = input < 0 ? ("open /dev/null", errno) : notify < 0 && settings.readiness == .notify
            ? ("a notification socket", errno) : nil
        if let (what, code) = failedEarly {
            for fd in output + status + [input, notify] where fd >= 0 { close(fd) }
            throw .system(what, code)
        }
        let notifySocket = notify >= 0
            ? String(decoding: notifyName.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : nil
        let argv = ([settings.program] + settings.arguments).map { strdup($0) } + [nil]
        let slot = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CSSD_LISTEN_PID_SLOT))
        _ = strcpy(slot, "LISTEN_PID=")
        let envp = environment(service: service, settings: settings, notifySocket: notifySocket).map {
            $0 == "LISTEN_PID=" ? slot : strdup($0)
        } + [nil]
        let path = strdup(settings.program)
        let directory = strdup(settings.directory)
        defer {
            argv.forEach { free($0) }
            envp.forEach { if $0 != slot { free($0) } }
            slot.deallocate()
            free(path)
            free(directory)
        }
        var launch = cssd_program_launch(
            path: path, argv: argv.withUnsafeBufferPointer { $0.baseAddress }, envp: nil, listen_pid_slot: slot,
            directory: directory, listen_fd: socket.fileno(), input_fd: input, output_fd: output[1], status_fd: status[1],
            death_signal: settings.stopSignal, master_pid: masterPID, failure_status: WorkerProcess.startupFailure)
        let pid = envp.withUnsafeBufferPointer { environment in
            argv.withUnsafeBufferPointer { arguments in
                launch.envp = UnsafePointer(environment.baseAddress)
                launch.argv = UnsafePointer(arguments.baseAddress)
                return forkWithSignalsBlocked { _ in
                    do {
                        try Credentials.apply(credentials)
                    } catch {
                        log.error("service \(service): program worker cannot start: "
                                  + "\(credentials.map { "cannot become \($0)" } ?? "cannot drop its capabilities"): \(error)")
                        cssd_program_report(status[1], CSSD_PROGRAM_STAGE_CREDENTIALS, 0)
                        _exit(WorkerProcess.startupFailure)
                    }
                    cssd_program_exec(&launch)
                }
            }
        }
        let forkError = errno
        close(output[1])
        close(status[1])
        close(input)
        guard pid > 0 else {
            close(output[0]); close(status[0])
            if notify >= 0 { close(notify) }
            throw .system("fork", forkError)
        }
        // The child does the same; whichever runs first, kill(-pid) reaches the program at once.
        _ = setpgid(pid, pid)
        _ = fcntl(output[0], F_SETFL, fcntl(output[0], F_GETFL) | O_NONBLOCK)
        let failure = readFailure(status[0], program: settings.program, directory: settings.directory)
        close(status[0])
        return LaunchedProgram(pid: pid, output: output[0], notify: notify, failure: failure)
    }

    /// What the program sees: PATH, LANG, SERVICE, the socket activation variables, its
    /// NOTIFY_SOCKET, then `environment` (which may replace PATH, LANG and SERVICE). LISTEN_PID's
    /// value is written by the child, which alone knows its pid before the exec.
    static func environment(service: String, settings: ProgramSettings, notifySocket: String?) -> [String] {
        var variables: [(name: String, value: String)] = [
            ("PATH", getenv("PATH").map { String(cString: $0) } ?? defaultPath),
            ("LANG", getenv("LANG").map { String(cString: $0) } ?? "C.UTF-8"),
            ("SERVICE", service),
        ]
        for word in settings.environment {
            guard let equals = word.firstIndex(of: "=") else { continue }
            let name = String(word[..<equals])
            variables.removeAll { $0.name == name }
            variables.append((name, String(word[word.index(after: equals)...])))
        }
        var lines = variables.map { "\($0.name)=\($0.value)" }
        lines += ["LISTEN_FDS=1", "LISTEN_PID=", "LISTEN_FDNAMES=\(service)"]
        if let notifySocket { lines.append("NOTIFY_SOCKET=\(notifySocket)") }
        return lines
    }

    /// Waits for the child's verdict: end of file once the exec happened (the pipe closes on
    /// exec), or {stage, errno} when a step before it failed.
    private static func readFailure(_ fd: Int32, program: String, directory: String) -> String? {
        var message: (Int32, Int32) = (0, 0)
        let count = (try? retryingOnInterrupt { withUnsafeMutableBytes(of: &message) { read(fd, $0.baseAddress, $0.count) } }) ?? 0
        guard count == MemoryLayout<(Int32, Int32)>.size else { return nil }
        let (stage, code) = message
        let reason = Errno(rawValue: code).description
        switch stage {
        case CSSD_PROGRAM_STAGE_CREDENTIALS: return "it could not take the workers' user and capabilities"
        case CSSD_PROGRAM_STAGE_GROUP: return "setpgid: \(reason)"
        case CSSD_PROGRAM_STAGE_DESCRIPTORS: return "setting up its descriptors: \(reason)"
        case CSSD_PROGRAM_STAGE_DIRECTORY: return "chdir \(directory): \(reason)"
        default: return "execve \(program): \(reason)"
        }
    }
}

extension ServiceConfig {
    /// The program a `handler = program` service runs as each worker (nil for other handlers).
    var programSettings: ProgramSettings? {
        guard handler == BuiltinHandlers.program.name else { return nil }
        return try? ProgramSettings.parse(options).get()
    }
}
