// Processes: spawning, reading /proc (RSS, CPU time, children), files and small clients.
#if canImport(Glibc)
import Glibc
#endif
import CSocketServerShims
import SocketServer

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The environment for servers: ours, without what would confuse them (systemd hand-offs).
func childEnvironment(adding extra: [String] = []) -> [String] {
    var result: [String] = []
    var entry = environ
    while let pointer = entry.pointee {
        let text = String(cString: pointer)
        let name = text.prefix { $0 != "=" }
        if !["NOTIFY_SOCKET", "LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES", "WATCHDOG_USEC", "WATCHDOG_PID",
             "JOURNAL_STREAM"].contains(String(name)) {
            result.append(text)
        }
        entry += 1
    }
    return result + extra
}

/// posix_spawn in a new process group, signals reset; stdout/stderr to files (or a pipe's write end).
func spawn(_ path: String, _ arguments: [String], environment: [String], stdoutPath: String? = nil,
           stdoutFD: Int32? = nil, stderrPath: String? = nil, searchPath: Bool = false) throws -> pid_t {
    let append = O_WRONLY | O_CREAT | O_APPEND
    let stdout: SpawnFileAction = stdoutFD.map { .duplicate($0, as: 1) } ?? .open(stdoutPath ?? "/dev/null", flags: append, as: 1)
    do {
        return try spawnProcess(path, arguments: arguments, environment: environment,
                                fileActions: [.open("/dev/null", flags: O_RDONLY, as: 0), stdout,
                                              .open(stderrPath ?? "/dev/null", flags: append, as: 2)],
                                newProcessGroup: true, signalsAtDefault: true, searchPath: searchPath)
    } catch {
        throw BenchError("cannot start \(path): \(error)")
    }
}

/// Runs a command to completion and returns (status, stdout+stderr).
func runCommand(_ path: String, _ arguments: [String], searchPath: Bool = true) -> (Int32, String) {
    var fds: [Int32] = [-1, -1]
    guard cssd_pipe_cloexec(&fds, 0) == 0 else { return (-1, "pipe failed") }
    let pid: pid_t
    do {
        pid = try spawnWithPipe(path, arguments, writeEnd: fds[1], searchPath: searchPath)
    } catch {
        close(fds[0]); close(fds[1])
        return (-1, "\(error)")
    }
    close(fds[1])
    let output = readAll(fds[0])
    close(fds[0])
    var status: Int32 = 0
    _ = try? retryingOnInterrupt { waitpid(pid, &status, 0) }
    return (status, output)
}

/// spawn with stdout and stderr both on `writeEnd`.
func spawnWithPipe(_ path: String, _ arguments: [String], writeEnd: Int32, searchPath: Bool) throws -> pid_t {
    do {
        return try spawnProcess(path, arguments: arguments, environment: childEnvironment(),
                                fileActions: [.duplicate(writeEnd, as: 1), .duplicate(writeEnd, as: 2)], searchPath: searchPath)
    } catch {
        throw BenchError("cannot run \(path): \(error)")
    }
}

func readAll(_ fd: Int32) -> String {
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while let count = try? retryingOnInterrupt({ chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) } }), count > 0 {
        bytes += chunk[0..<count]
    }
    return String(decoding: bytes, as: UTF8.self)
}

func readFile(_ path: String) -> String? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    return readAll(fd)
}

/// Appends bytes of `path` from `offset` on; returns the new text and the new offset.
func readFile(_ path: String, from offset: Int) -> (String, Int) {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return ("", offset) }
    defer { close(fd) }
    lseek(fd, off_t(offset), SEEK_SET)
    let text = readAll(fd)
    return (text, offset + text.utf8.count)
}

func writeFile(_ path: String, _ text: String, mode: mode_t = 0o644) throws {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
    guard fd >= 0 else { throw BenchError("cannot write \(path): \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    var bytes = Array(text.utf8)[...]
    while !bytes.isEmpty {
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        if written <= 0 { throw BenchError("cannot write \(path)") }
        bytes = bytes.dropFirst(written)
    }
    fchmod(fd, mode)
}

func fileExists(_ path: String) -> Bool { access(path, F_OK) == 0 }

func modificationTime(_ path: String) -> Int {
    var info = stat()
    guard stat(path, &info) == 0 else { return 0 }
    return Int(info.st_mtim.tv_sec)
}

/// The directory part of a path.
func directoryName(_ path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return "." }
    return slash == path.startIndex ? "/" : String(path[..<slash])
}

func executablePath() -> String {
    var buffer = [CChar](repeating: 0, count: 4096)
    let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    guard count > 0 else { return CommandLine.arguments[0] }
    return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

// MARK: - /proc

struct ProcStat {
    let pid: pid_t
    let ppid: pid_t
    /// utime + stime + cutime + cstime, in clock ticks.
    let cpuTicks: Int
}

func procStat(_ pid: pid_t) -> ProcStat? {
    guard let text = readFile("/proc/\(pid)/stat"), let close = text.lastIndex(of: ")") else { return nil }
    let fields = text[text.index(after: close)...].split(separator: " ")
    // fields[0] is the state (field 3); ppid is field 4; utime..cstime are fields 14…17.
    guard fields.count > 15, let ppid = pid_t(fields[1]) else { return nil }
    let ticks = (11...14).reduce(0) { $0 + (Int(fields[$1]) ?? 0) }
    return ProcStat(pid: pid, ppid: ppid, cpuTicks: ticks)
}

func allProcesses() -> [ProcStat] {
    guard let dir = opendir("/proc") else { return [] }
    defer { closedir(dir) }
    var result: [ProcStat] = []
    while let entry = readdir(dir) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        if let pid = pid_t(name), let stat = procStat(pid) { result.append(stat) }
    }
    return result
}

/// `root` and all its descendants.
func processTree(_ root: pid_t) -> [ProcStat] {
    let all = allProcesses()
    var result = all.filter { $0.pid == root }
    var frontier: Set<pid_t> = [root]
    while !frontier.isEmpty {
        let next = all.filter { frontier.contains($0.ppid) }
        result += next
        frontier = Set(next.map(\.pid))
    }
    return result
}

func children(of pid: pid_t) -> [pid_t] {
    allProcesses().filter { $0.ppid == pid }.map(\.pid).sorted()
}

/// CPU seconds used by a process tree (live processes plus children they have reaped).
func treeCPUSeconds(_ root: pid_t) -> Double {
    Double(processTree(root).reduce(0) { $0 + $1.cpuTicks }) / Double(sysconf(Int32(_SC_CLK_TCK)))
}

/// Memory as users of a pre-fork server count it, in KiB (/proc/PID/smaps_rollup): PSS (each
/// shared page divided among the processes mapping it) and USS (the pages this process alone maps,
/// Private_Clean + Private_Dirty). The Swift runtime's pages are shared by every worker, so RSS
/// counts them once per process while PSS and USS do not.
func proportionalKiB(_ pid: pid_t) -> (pss: Int, uss: Int)? {
    guard let text = readFile("/proc/\(pid)/smaps_rollup") else { return nil }
    var pss: Int? = nil, uss = 0
    for line in text.split(separator: "\n") {
        let fields = line.split(separator: " ", omittingEmptySubsequences: true)
        guard fields.count >= 2, let value = Int(fields[1]) else { continue }
        switch fields[0] {
        case "Pss:": pss = value
        case "Private_Clean:", "Private_Dirty:": uss += value
        default: break
        }
    }
    return pss.map { ($0, uss) }
}

/// Resident set size in KiB (VmRSS) and its anonymous part (RssAnon).
func residentKiB(_ pid: pid_t) -> (rss: Int, anon: Int)? {
    guard let text = readFile("/proc/\(pid)/status") else { return nil }
    var rss: Int? = nil, anon = 0
    for line in text.split(separator: "\n") {
        if line.hasPrefix("VmRSS:") { rss = Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]) }
        if line.hasPrefix("RssAnon:") { anon = Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]) ?? 0 }
    }
    return rss.map { ($0, anon) }
}

/// CPU seconds all CPUs spent in processes since boot (user, nice, system) or taken by the hypervisor
/// (steal), from /proc/stat. Interrupt and softirq time is left out: loopback traffic is processed
/// there (a fifth of the busy time under load) and is charged to no process, ours or anyone's.
func machineBusySeconds() -> Double {
    guard let text = readFile("/proc/stat"), let line = text.split(separator: "\n").first, line.hasPrefix("cpu ") else { return 0 }
    let fields = line.split(separator: " ").dropFirst().compactMap { Double($0) }
    guard fields.count >= 8 else { return 0 }
    // user nice system idle iowait irq softirq steal
    let busy = fields[0] + fields[1] + fields[2] + fields[7]
    return busy / Double(sysconf(Int32(_SC_CLK_TCK)))
}

func realtimeMilliseconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    return Double(now.tv_sec) * 1000 + Double(now.tv_nsec) / 1e6
}

func sleepSeconds(_ seconds: Double) {
    sleep(for: .seconds(seconds))
}

/// Reaps every exited child without blocking (workers adopted after their master died, too).
func reapExited() {
    var status: Int32 = 0
    while waitpid(-1, &status, WNOHANG) > 0 {}
}

// MARK: - Small clients

/// One echo round trip on a new connection; true if `message` came back within `timeout` seconds.
func echoRoundTrip(_ endpoint: Endpoint, _ message: String = "ping\n", timeout: Double = 1) -> Bool {
    let fd = socket(endpoint.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - Double(Int(timeout))) * 1e6))
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    var (address, length) = endpoint.sockaddr()
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, length) }
    }
    guard connected == 0 else { return false }
    let bytes = Array(message.utf8)
    guard bytes.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == bytes.count else { return false }
    var received: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 256)
    while received.count < bytes.count {
        let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if count <= 0 { return false }
        received += chunk[0..<count]
    }
    return received == bytes
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
func freePort() -> UInt16 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var sin = sockaddr_in()
    sin.sin_family = sa_family_t(AF_INET)
    sin.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
    sin.sin_port = 0
    _ = withUnsafePointer(to: &sin) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &sin) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    return UInt16(bigEndian: sin.sin_port)
}

/// A datagram socket receiving sd_notify messages, the way systemd does.
final class NotifySocket {
    let path: String
    let fd: Int32

    init(path: String) throws {
        self.path = path
        unlink(path)
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        var (address, length) = Endpoint.unix(path: path).sockaddr()
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard bound == 0 else { throw BenchError("cannot bind \(path): \(String(cString: strerror(errno)))") }
        chmod(path, 0o666)  // a daemon started as root sends READY after becoming "nobody"
    }

    deinit {
        close(fd)
        unlink(path)
    }

    /// Every message waiting now (non-blocking).
    func drain() -> [String] {
        var messages: [String] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count <= 0 { return messages }
            messages.append(String(decoding: buffer[0..<count], as: UTF8.self))
        }
    }
}
