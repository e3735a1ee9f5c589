// What one image of the master hands to the next on a binary upgrade: a memfd of text lines named
// by $SOCKETSERVERD_UPGRADE_FD, plus the descriptors those lines name (kept open across execve).
#if canImport(Glibc)
import Glibc
#endif
import CSocketServerShims
import SocketServer

/// The state that survives the exec: the generation, the listening sockets, the pid file and
/// every worker with its scoreboard (they stay children of the same pid). Lines are `key field…` with
/// fields separated by spaces and text fields hex-encoded, so no path or name can break the format.
struct UpgradeHandover: Equatable {
    static let environmentName = "SOCKETSERVERD_UPGRADE_FD"
    static let header = "socketserverd-upgrade 1"

    struct Worker: Equatable {
        static func == (a: Worker, b: Worker) -> Bool {
            a.pid == b.pid && a.service == b.service && a.generation == b.generation && a.slot == b.slot && a.board == b.board
                && a.entries == b.entries && a.channel == b.channel && a.retiring == b.retiring && a.ready == b.ready
                && a.killInNanoseconds == b.killInNanoseconds && a.ageNanoseconds == b.ageNanoseconds
        }

        var pid: pid_t
        var service: String
        var generation: Int
        var slot: Int?
        /// Its scoreboard memfd and how many entries it holds (-1, 0 when untracked).
        var board: Int32 = -1
        var entries = 0
        /// Both ends of its log channel (-1: none).
        var channel: (sending: Int32, receiving: Int32) = (-1, -1)
        var retiring: Bool
        var ready: Bool
        /// How long until its kill deadline, if it has one (nanoseconds; may be negative).
        var killInNanoseconds: Int64?
        /// How long it has run (for `status`).
        var ageNanoseconds: Int64 = 0
    }

    /// A worker that runs a program: how to stop it, and the master's ends of its output pipe and
    /// notification socket (-1: none).
    struct Program: Equatable {
        var pid: pid_t
        var stopSignal: Int32
        var startTimeoutNanoseconds: Int64
        var output: Int32
        var notify: Int32
        var failedToStart: Bool
    }

    var generation = 0
    var extraWorkers = 0
    /// The log's shared page (the reopen counter old workers watch; -1: none).
    var logPage: Int32 = -1
    var pidFile: String? = nil
    /// Listening sockets by descriptor, with the listen address they serve as the config writes
    /// it; `systemd` marks those systemd passed (never unlinked here).
    var sockets: [(fd: Int32, systemd: Bool, address: String)] = []
    var workers: [Worker] = []
    var programs: [Program] = []
    /// Each service's counters memfd by service name, and the daemon's (-1: none).
    var counters: [(service: String, fd: Int32)] = []
    var daemonCounters: Int32 = -1
    /// The control socket's descriptor and the path it is bound to (nil: none).
    var control: (fd: Int32, path: String)? = nil

    static func == (a: UpgradeHandover, b: UpgradeHandover) -> Bool {
        a.generation == b.generation && a.extraWorkers == b.extraWorkers && a.logPage == b.logPage
            && a.pidFile == b.pidFile && a.workers == b.workers && a.programs == b.programs
            && a.sockets.map(\.fd) == b.sockets.map(\.fd) && a.sockets.map(\.systemd) == b.sockets.map(\.systemd)
            && a.sockets.map(\.address) == b.sockets.map(\.address)
            && a.counters.map(\.service) == b.counters.map(\.service) && a.counters.map(\.fd) == b.counters.map(\.fd)
            && a.daemonCounters == b.daemonCounters && a.control?.fd == b.control?.fd && a.control?.path == b.control?.path
    }

    /// Every descriptor that must stay open across the exec.
    var descriptors: [Int32] {
        ([logPage, daemonCounters, control?.fd ?? -1] + sockets.map(\.fd) + counters.map(\.fd)
         + workers.flatMap { [$0.board, $0.channel.sending, $0.channel.receiving] }
         + programs.flatMap { [$0.output, $0.notify] }).filter { $0 >= 0 }
    }

    func encoded() -> String {
        var lines = [Self.header, "generation \(generation)", "extra \(extraWorkers)", "logpage \(logPage)",
                     "daemoncounters \(daemonCounters)"]
        for (service, fd) in counters { lines.append("counters \(Self.hex(service)) \(fd)") }
        if let pidFile { lines.append("pidfile \(Self.hex(pidFile))") }
        if let control { lines.append("control \(control.fd) \(Self.hex(control.path))") }
        for socket in sockets { lines.append("socket \(socket.fd) \(socket.systemd ? 1 : 0) \(Self.hex(socket.address))") }
        for worker in workers {
            lines.append("worker \(worker.pid) \(Self.hex(worker.service)) \(worker.generation) \(worker.slot ?? -1) "
                         + "\(worker.retiring ? 1 : 0) \(worker.ready ? 1 : 0) \(worker.killInNanoseconds.map(String.init) ?? "-") "
                         + "\(worker.board) \(worker.entries) \(worker.channel.sending) \(worker.channel.receiving) "
                         + "\(worker.ageNanoseconds)")
        }
        for program in programs {
            lines.append("program \(program.pid) \(program.stopSignal) \(program.startTimeoutNanoseconds) \(program.output) "
                         + "\(program.notify) \(program.failedToStart ? 1 : 0)")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func decode(_ text: String) throws(DaemonError) -> UpgradeHandover {
        var lines = text.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
        guard lines.first?.joined(separator: " ") == header else { throw .message("upgrade state: unknown format") }
        lines.removeFirst()
        var state = UpgradeHandover()
        for fields in lines {
            func int(_ index: Int) throws(DaemonError) -> Int {
                guard index < fields.count, let value = Int(fields[index]) else {
                    throw .message("upgrade state: bad line '\(fields.joined(separator: " "))'")
                }
                return value
            }
            func text(_ index: Int) throws(DaemonError) -> String {
                guard index < fields.count, let value = unhex(fields[index]) else {
                    throw .message("upgrade state: bad line '\(fields.joined(separator: " "))'")
                }
                return value
            }
            switch fields.first {
            case "generation": state.generation = try int(1)
            case "extra": state.extraWorkers = try int(1)
            case "logpage": state.logPage = Int32(try int(1))
            case "pidfile": state.pidFile = try text(1)
            case "control": state.control = (Int32(try int(1)), try text(2))
            case "daemoncounters": state.daemonCounters = Int32(try int(1))
            case "counters": state.counters.append((try text(1), Int32(try int(2))))
            case "socket": state.sockets.append((Int32(try int(1)), try int(2) != 0, try text(3)))
            case "worker":
                let slot = try int(4)
                let kill = fields.count > 7 && fields[7] != "-" ? Int64(try int(7)) : nil
                state.workers.append(Worker(pid: pid_t(try int(1)), service: try text(2), generation: try int(3),
                                            slot: slot >= 0 ? slot : nil, board: Int32(try int(8)), entries: try int(9),
                                            channel: (Int32(try int(10)), Int32(try int(11))),
                                            retiring: try int(5) != 0, ready: try int(6) != 0, killInNanoseconds: kill,
                                            ageNanoseconds: fields.count > 12 ? Int64(try int(12)) : 0))
            case "program":
                state.programs.append(Program(pid: pid_t(try int(1)), stopSignal: Int32(try int(2)),
                                              startTimeoutNanoseconds: Int64(try int(3)), output: Int32(try int(4)),
                                              notify: Int32(try int(5)), failedToStart: try int(6) != 0))
            default: throw .message("upgrade state: unknown line '\(fields.joined(separator: " "))'")
            }
        }
        return state
    }

    static func hex(_ text: String) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for byte in text.utf8 { out += [digits[Int(byte >> 4)], digits[Int(byte & 15)]] }
        return out.isEmpty ? "-" : String(decoding: out, as: UTF8.self)
    }

    static func unhex(_ text: String) -> String? {
        if text == "-" { return "" }
        let bytes = Array(text.utf8)
        guard bytes.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        for index in stride(from: 0, to: bytes.count, by: 2) {
            guard let high = nibble(bytes[index]), let low = nibble(bytes[index + 1]) else { return nil }
            out.append(high << 4 | low)
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func nibble(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        default: return nil
        }
    }

    /// Writes the state into a new memfd (not close-on-exec: the next image reads it); returns it.
    func writeToMemfd() throws(DaemonError) -> Int32 {
        let fd = cssd_memfd_cloexec("socketserverd-upgrade")
        guard fd >= 0 else { throw .system("memfd_create", errno) }
        do {
            try writeAll(fd, Array(encoded().utf8))
        } catch {
            close(fd)
            throw .system("writing the upgrade state", error.rawValue)
        }
        return fd
    }

    /// Reads the state the previous image left, if this image was started by an upgrade; unsets
    /// the variable and closes the memfd.
    static func takeFromEnvironment() throws(DaemonError) -> UpgradeHandover? {
        guard let value = getenv(environmentName).map({ String(cString: $0) }) else { return nil }
        unsetenv(environmentName)
        guard let fd = Int32(value), fd > 2 else { throw .message("\(environmentName)=\(value): not a descriptor") }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        var offset: off_t = 0
        while true {
            let count: Int
            do {
                count = try retryingOnInterrupt { pread(fd, &buffer, buffer.count, offset) }
            } catch {
                throw .system("reading the upgrade state", error.rawValue)
            }
            if count == 0 { break }
            bytes += buffer[..<count]
            offset += off_t(count)
        }
        return try decode(String(decoding: bytes, as: UTF8.self))
    }
}

/// Sets or clears close-on-exec on `fd`.
func setCloseOnExec(_ fd: Int32, _ on: Bool) {
    let flags = fcntl(fd, F_GETFD)
    guard flags >= 0 else { return }
    _ = fcntl(fd, F_SETFD, on ? flags | FD_CLOEXEC : flags & ~FD_CLOEXEC)
}
