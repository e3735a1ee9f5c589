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
    /// The `ignoredByMaster` signals already logged.
    private var reported: Set<Int32> = []

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

    /// Signals the master has no use for whose default action would end it (or, TSTP, stop it):
    /// caught through the pipe like the others, logged the first time each arrives
    /// (`reportIgnored`), otherwise ignored. Faults (SEGV, BUS, ILL, FPE, ABRT, TRAP, SYS) are not
    /// among them: those keep their default action.
    static let ignoredByMaster: [Int32] =
        [SIGALRM, SIGVTALRM, SIGPROF, SIGIO, SIGPWR, SIGXCPU, SIGSTKFLT, SIGTSTP] + Array(cssd_sigrtmin()...cssd_sigrtmax())

    /// Discarded by the kernel in the master and in workers (SIG_IGN): a write to a closed pipe or
    /// socket then fails with EPIPE, and one past RLIMIT_FSIZE with EFBIG, instead of killing.
    static let discarded: [Int32] = [SIGPIPE, SIGXFSZ]

    /// Before the pipe exists (reading the config, checking plugins: up to seconds), a HUP from an
    /// impatient operator or a USR1 from logrotate would kill the daemon by their default action,
    /// and TTIN/TTOU would stop it. Blocked instead, they wait for `init`, which handles them; so
    /// do USR2 and `ignoredByMaster`. The `discarded` signals are ignored from here on.
    static func holdDuringStartup() {
        for signal in discarded { Glibc.signal(signal, SIG_IGN) }
        var set = SignalPipe.set(of: [SIGHUP, SIGUSR1, SIGUSR2, SIGTTIN, SIGTTOU] + ignoredByMaster)
        sigprocmask(SIG_BLOCK, &set, nil)
    }

    /// Logs "SIGALRM ignored" for one of `ignoredByMaster`, the first time that signal arrives
    /// in this process; nothing for any other signal, or for the same one again.
    func reportIgnored(_ signal: Int32) {
        guard SignalPipe.ignoredByMaster.contains(signal), reported.insert(signal).inserted else { return }
        log.warning("\(signalName(signal)) ignored")
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

/// Human names for signals, as kill -l gives them ("SIGRTMIN+1" for the real-time ones).
func signalName(_ number: Int32) -> String {
    switch number {
    case SIGHUP: return "SIGHUP"
    case SIGINT: return "SIGINT"
    case SIGQUIT: return "SIGQUIT"
    case SIGILL: return "SIGILL"
    case SIGTRAP: return "SIGTRAP"
    case SIGABRT: return "SIGABRT"
    case SIGBUS: return "SIGBUS"
    case SIGFPE: return "SIGFPE"
    case SIGKILL: return "SIGKILL"
    case SIGUSR1: return "SIGUSR1"
    case SIGSEGV: return "SIGSEGV"
    case SIGUSR2: return "SIGUSR2"
    case SIGPIPE: return "SIGPIPE"
    case SIGALRM: return "SIGALRM"
    case SIGTERM: return "SIGTERM"
    case SIGSTKFLT: return "SIGSTKFLT"
    case SIGCHLD: return "SIGCHLD"
    case SIGCONT: return "SIGCONT"
    case SIGSTOP: return "SIGSTOP"
    case SIGTSTP: return "SIGTSTP"
    case SIGTTIN: return "SIGTTIN"
    case SIGTTOU: return "SIGTTOU"
    case SIGURG: return "SIGURG"
    case SIGXCPU: return "SIGXCPU"
    case SIGXFSZ: return "SIGXFSZ"
    case SIGVTALRM: return "SIGVTALRM"
    case SIGPROF: return "SIGPROF"
    case SIGWINCH: return "SIGWINCH"
    case SIGIO: return "SIGIO"
    case SIGPWR: return "SIGPWR"
    case SIGSYS: return "SIGSYS"
    default:
        let (low, high) = (cssd_sigrtmin(), cssd_sigrtmax())
        guard low <= number, number <= high else { return "signal \(number)" }
        if number == low { return "SIGRTMIN" }
        if number == high { return "SIGRTMAX" }
        // The lower half counts up from SIGRTMIN, the upper half down from SIGRTMAX.
        return number - low <= (high - low) / 2 ? "SIGRTMIN+\(number - low)" : "SIGRTMAX-\(high - number)"
    }
}

/// "exited with status 0" / "was killed by SIGSEGV (core dumped)".
func describeExit(_ status: Int32) -> String {
    let signal = status & 0x7f
    if signal == 0 { return "exited with status \((status >> 8) & 0xff)" }
    let core = status & 0x80 != 0 ? " (core dumped)" : ""
    return "was killed by \(signalName(signal))\(core)"
}
