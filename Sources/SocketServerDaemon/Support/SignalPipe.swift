// Signals become bytes on a self-pipe; all real work happens in the master's loop.
#if canImport(Glibc)
import Glibc
#endif
import CSocketServerShims

nonisolated(unsafe) private var signalPipeWriteEnd: Int32 = -1

/// Catches the given signals; each one delivered is written as one byte to a non-blocking pipe
/// that the master polls. The handler does nothing else (async-signal-safe).
final class SignalPipe {
    let readEnd: Int32
    private let writeEnd: Int32
    private let signals: [Int32]

    init(catching signals: [Int32]) throws(DaemonError) {
        var fds: [Int32] = [-1, -1]
        guard cssd_pipe_cloexec(&fds, 1) == 0 else { throw .system("pipe2", errno) }
        readEnd = fds[0]
        writeEnd = fds[1]
        self.signals = signals
        signalPipeWriteEnd = writeEnd
        for signal in signals {
            Glibc.signal(signal) { number in
                let saved = errno
                var byte = UInt8(truncatingIfNeeded: number)
                _ = write(signalPipeWriteEnd, &byte, 1)
                errno = saved
            }
        }
        // Signals held back during start-up (holdDuringStartup) are delivered now, into the pipe.
        var set = SignalPipe.set(of: signals)
        sigprocmask(SIG_UNBLOCK, &set, nil)
    }

    /// Before the pipe exists (reading the config, checking plugins: up to seconds), a HUP from an
    /// impatient operator or a USR1 from logrotate would kill the daemon by their default action,
    /// and TTIN/TTOU would stop it. Blocked instead, they wait for `init`, which handles them.
    static func holdDuringStartup() {
        var set = SignalPipe.set(of: [SIGHUP, SIGUSR1, SIGTTIN, SIGTTOU])
        sigprocmask(SIG_BLOCK, &set, nil)
    }

    private static func set(of signals: [Int32]) -> sigset_t {
        var set = sigset_t()
        sigemptyset(&set)
        for signal in signals { sigaddset(&set, signal) }
        return set
    }

    /// The signals delivered since the last call, in order.
    func drain() -> [Int32] {
        var result: [Int32] = []
        var buffer = [UInt8](repeating: 0, count: 64)
        while true {
            let count = read(readEnd, &buffer, buffer.count)
            if count <= 0 { break }
            result += buffer[..<count].map { Int32($0) }
        }
        return result
    }

    /// In a forked worker: restores default dispositions and closes the pipe.
    func release() {
        for signal in signals { Glibc.signal(signal, SIG_DFL) }
        close(readEnd)
        close(writeEnd)
        signalPipeWriteEnd = -1
    }
}

/// Human names for the signals operators send.
func signalName(_ number: Int32) -> String {
    switch number {
    case SIGHUP: return "SIGHUP"
    case SIGINT: return "SIGINT"
    case SIGQUIT: return "SIGQUIT"
    case SIGKILL: return "SIGKILL"
    case SIGSEGV: return "SIGSEGV"
    case SIGABRT: return "SIGABRT"
    case SIGBUS: return "SIGBUS"
    case SIGILL: return "SIGILL"
    case SIGTRAP: return "SIGTRAP"
    case SIGTERM: return "SIGTERM"
    case SIGUSR1: return "SIGUSR1"
    case SIGUSR2: return "SIGUSR2"
    case SIGCHLD: return "SIGCHLD"
    case SIGPIPE: return "SIGPIPE"
    case SIGTTIN: return "SIGTTIN"
    case SIGTTOU: return "SIGTTOU"
    default: return "signal \(number)"
    }
}

/// "exited with status 0" / "was killed by SIGSEGV (core dumped)".
func describeExit(_ status: Int32) -> String {
    let signal = status & 0x7f
    if signal == 0 { return "exited with status \((status >> 8) & 0xff)" }
    let core = status & 0x80 != 0 ? " (core dumped)" : ""
    return "was killed by \(signalName(signal))\(core)"
}
