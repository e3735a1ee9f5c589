// The load generator (`socketserverd-bench --load …`): a separate process that drives N echo clients
// over loopback with one epoll loop per thread, non-blocking sockets, preallocated buffers and no
// allocation per request. It prints one RESULT line that the benchmark parses.
#if canImport(Glibc)
import Glibc
#endif
import CSocketServerBench
import CSocketServerShims
import Synchronization

/// Where the load goes: TCP on 127.0.0.1, or a Unix stream socket.
enum Endpoint: CustomStringConvertible {
    case tcp(port: UInt16)
    case unix(path: String)

    init?(parsing text: String) {
        if text.hasPrefix("tcp:"), let port = UInt16(text.dropFirst(4)) {
            self = .tcp(port: port)
        } else if text.hasPrefix("unix:") {
            self = .unix(path: String(text.dropFirst(5)))
        } else {
            return nil
        }
    }

    var description: String {
        switch self {
        case .tcp(let port): return "tcp:\(port)"
        case .unix(let path): return "unix:\(path)"
        }
    }

    var isUnix: Bool { if case .unix = self { return true } else { return false } }

    var family: Int32 { isUnix ? AF_UNIX : AF_INET }

    /// The kernel address and its length.
    func sockaddr() -> (sockaddr_storage, socklen_t) {
        var storage = sockaddr_storage()
        switch self {
        case .tcp(let port):
            var sin = sockaddr_in()
            sin.sin_family = sa_family_t(AF_INET)
            sin.sin_port = port.bigEndian
            sin.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
            withUnsafeMutableBytes(of: &storage) { $0.storeBytes(of: sin, as: sockaddr_in.self) }
            return (storage, socklen_t(MemoryLayout<sockaddr_in>.size))
        case .unix(let path):
            var sun = sockaddr_un()
            sun.sun_family = sa_family_t(AF_UNIX)
            let bytes = Array(path.utf8.prefix(MemoryLayout.size(ofValue: sun.sun_path) - 1))
            withUnsafeMutableBytes(of: &sun.sun_path) { $0.copyBytes(from: bytes) }
            withUnsafeMutableBytes(of: &storage) { $0.storeBytes(of: sun, as: sockaddr_un.self) }
            return (storage, socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + 1))
        }
    }
}

/// What to run.
struct LoadSpec {
    var endpoint: Endpoint = .tcp(port: 0)
    /// Persistent connections (request rate) rather than a connection per request (accept rate).
    var keepAlive = false
    var clients = 1
    var size = 16
    var warmup = 0.2
    /// Seconds measured after the warm-up; 0 runs until SIGTERM or SIGINT.
    var duration = 1.0
    var threads = 0
    /// A request (or connect) unanswered for this long is an error, and the client starts over.
    var timeout = 1.0
    /// Stop after this many completed requests in all (0: no limit).
    var requests = 0
    /// With keepAlive: reconnect after this many requests on a connection (0: never).
    var perConnection = 0
    /// Total requests per second, spread over the clients (0: as fast as they go).
    var rate = 0.0

    static func parse(_ arguments: [String]) -> LoadSpec? {
        var spec = LoadSpec()
        var rest = arguments[...]
        while let key = rest.popFirst() {
            guard let value = rest.popFirst() else { return nil }
            switch key {
            case "--target": guard let endpoint = Endpoint(parsing: value) else { return nil }; spec.endpoint = endpoint
            case "--mode": spec.keepAlive = value == "keep"
            case "--clients": spec.clients = max(1, Int(value) ?? 1)
            case "--size": spec.size = max(1, Int(value) ?? 16)
            case "--warmup": spec.warmup = Double(value) ?? 0.2
            case "--duration": spec.duration = Double(value) ?? 1
            case "--threads": spec.threads = Int(value) ?? 0
            case "--timeout": spec.timeout = Double(value) ?? 1
            case "--requests": spec.requests = Int(value) ?? 0
            case "--per-connection": spec.perConnection = Int(value) ?? 0
            case "--rate": spec.rate = Double(value) ?? 0
            default: return nil
            }
        }
        return spec
    }

    var arguments: [String] {
        ["--target", endpoint.description, "--mode", keepAlive ? "keep" : "conn", "--clients", "\(clients)",
         "--size", "\(size)", "--warmup", "\(warmup)", "--duration", "\(duration)", "--threads", "\(threads)",
         "--timeout", "\(timeout)", "--requests", "\(requests)", "--per-connection", "\(perConnection)",
         "--rate", "\(rate)"]
    }
}

/// Monotonic nanoseconds (vDSO; no system call).
@inline(__always)
func monotonicNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) &* 1_000_000_000 &+ UInt64(now.tv_nsec)
}

/// Set by SIGTERM/SIGINT in load mode: every thread stops at its next loop turn.
let loadStopRequested = Atomic<Bool>(false)
/// Requests completed by all threads (only kept when a request limit is set).
let loadCompletedTotal = Atomic<Int>(0)

private enum Phase: UInt8 { case idle, connecting, sending, receiving }

private struct Client {
    var fd: Int32 = -1
    var phase: Phase = .idle
    var sent = 0
    var received = 0
    /// When the current request (conn mode: its connect) started.
    var started: UInt64 = 0
    /// An idle client starts its next request at this time (pacing, or back-off after a failed connect).
    var notBefore: UInt64 = 0
    var onConnection = 0
}

/// Counters one thread keeps; merged at the end.
struct LoadCounters {
    var completed = 0
    var connectErrors = 0
    var resets = 0
    var earlyEOF = 0
    var mismatches = 0
    var timeouts = 0
    var stalled = 0
    var connections = 0
    var histogram = Histogram()

    mutating func merge(_ other: LoadCounters) {
        completed += other.completed
        connectErrors += other.connectErrors
        resets += other.resets
        earlyEOF += other.earlyEOF
        mismatches += other.mismatches
        timeouts += other.timeouts
        stalled += other.stalled
        connections += other.connections
        histogram.merge(other.histogram)
    }

    var errors: Int { connectErrors + resets + earlyEOF + mismatches + timeouts + stalled }
}

private enum Failure { case connect, reset, eof, mismatch, timeout }

/// One epoll loop serving a slice of the clients.
final class LoadThread: @unchecked Sendable {
    let spec: LoadSpec
    let payload: UnsafeRawBufferPointer
    let measureStart: UInt64
    let end: UInt64
    var counters = LoadCounters()
    private let clients: UnsafeMutableBufferPointer<Client>
    private let scratch: UnsafeMutableRawBufferPointer
    private let epoll: Int32
    private var address: sockaddr_storage
    private let addressLength: socklen_t
    private let timeoutNanos: UInt64
    private let interval: UInt64
    private let threadIndex: Int
    private var sourceCounter = 0

    init(spec: LoadSpec, threadIndex: Int, clientCount: Int, payload: UnsafeRawBufferPointer, measureStart: UInt64, end: UInt64) {
        self.spec = spec
        self.threadIndex = threadIndex & 3
        self.payload = payload
        self.measureStart = measureStart
        self.end = end
        clients = .allocate(capacity: clientCount)
        clients.initialize(repeating: Client())
        scratch = .allocate(byteCount: 65536, alignment: 16)
        epoll = epoll_create1(Int32(EPOLL_CLOEXEC))
        (address, addressLength) = spec.endpoint.sockaddr()
        timeoutNanos = UInt64(spec.timeout * 1e9)
        interval = spec.rate > 0 ? UInt64(Double(spec.clients) / spec.rate * 1e9) : 0
    }

    deinit {
        clients.deallocate()
        scratch.deallocate()
        close(epoll)
    }

    func run() {
        var now = monotonicNanoseconds()
        for index in clients.indices { begin(index, now) }
        var events = [epoll_event](repeating: epoll_event(), count: 256)
        var nextScan = now + 5_000_000
        while true {
            if loadStopRequested.load(ordering: .relaxed) || now >= end { break }
            let waitMs: Int32 = interval > 0 ? 1 : 5
            let count = events.withUnsafeMutableBufferPointer { epoll_wait(epoll, $0.baseAddress, 256, waitMs) }
            now = monotonicNanoseconds()
            if count > 0 {
                events.withUnsafeBufferPointer { list in
                    for slot in 0..<Int(count) {
                        handle(Int(cssb_event_data(list.baseAddress! + slot)), cssb_event_flags(list.baseAddress! + slot), now)
                    }
                }
            }
            if now >= nextScan || interval > 0 {
                scan(now)
                nextScan = now + 5_000_000
            }
        }
        // A request still unanswered at the end, pending at least as long as the timeout or the
        // whole measurement, is a stall: counted as an error.
        let window = end > measureStart ? end - measureStart : timeoutNanos
        let stallAge = min(timeoutNanos, window)
        now = monotonicNanoseconds()
        for index in clients.indices where clients[index].phase != .idle {
            if now > clients[index].started && now - clients[index].started >= stallAge { counters.stalled += 1 }
            if clients[index].fd >= 0 { close(clients[index].fd) }
        }
    }

    /// Timeouts, and idle clients whose start time has come.
    private func scan(_ now: UInt64) {
        for index in clients.indices {
            let client = clients[index]
            if client.phase == .idle {
                if client.notBefore <= now { begin(index, now) }
            } else if now > client.started && now - client.started > timeoutNanos {
                fail(index, .timeout, now)
            }
        }
    }

    private func begin(_ index: Int, _ now: UInt64) {
        if loadStopRequested.load(ordering: .relaxed) { return }
        if interval > 0 { clients[index].notBefore = max(now, clients[index].notBefore) + interval }
        clients[index].started = now
        if clients[index].fd >= 0 {
            send(index, now)
            return
        }
        let fd = socket(spec.endpoint.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else {
            fail(index, .connect, now)
            return
        }
        if !spec.endpoint.isUnix {
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            if !spec.keepAlive { bindSourceAddress(fd) }
        }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, addressLength) }
        }
        let code = errno
        if result != 0 && code != EINPROGRESS {
            close(fd)
            fail(index, .connect, now)
            return
        }
        cssb_epoll_add(epoll, fd, EPOLLIN.rawValue | EPOLLOUT.rawValue | EPOLLET.rawValue, UInt64(index))
        clients[index].fd = fd
        clients[index].onConnection = 0
        counters.connections += 1
        if result == 0 {
            send(index, now)
        } else {
            clients[index].phase = .connecting
        }
    }

    /// A connection per request leaves a TIME_WAIT socket per request on the client side; from one
    /// source address the kernel soon spends most of connect() searching for a free port (with
    /// 28k ephemeral ports, __inet_hash_connect dominated the profile). Rotating the source over
    /// 127.1.0.0/16 (all loopback) with IP_BIND_ADDRESS_NO_PORT keeps that search short.
    private func bindSourceAddress(_ fd: Int32) {
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_IP), 24 /* IP_BIND_ADDRESS_NO_PORT */, &one, socklen_t(MemoryLayout<Int32>.size))
        sourceCounter = (sourceCounter &+ 1) & 0x3fff
        var sin = sockaddr_in()
        sin.sin_family = sa_family_t(AF_INET)
        sin.sin_addr.s_addr = (UInt32(0x7f01_0000) | (UInt32(threadIndex) << 14) | UInt32(sourceCounter)).bigEndian
        _ = withUnsafePointer(to: &sin) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
    }

    private func send(_ index: Int, _ now: UInt64) {
        if spec.keepAlive { clients[index].started = now }
        clients[index].sent = 0
        clients[index].received = 0
        clients[index].phase = .sending
        trySend(index, now, connecting: false)
    }

    private func trySend(_ index: Int, _ now: UInt64, connecting: Bool) {
        let fd = clients[index].fd
        while clients[index].sent < spec.size {
            let offset = clients[index].sent
            let count = Glibc.send(fd, payload.baseAddress! + offset, spec.size - offset, Int32(MSG_NOSIGNAL))
            if count > 0 { clients[index].sent += count; continue }
            let code = errno
            if count < 0 && code == EINTR { continue }
            if count < 0 && (code == EAGAIN || code == EWOULDBLOCK) { return }
            fail(index, connecting ? .connect : .reset, now)
            return
        }
        clients[index].phase = .receiving
    }

    private func tryReceive(_ index: Int, _ now: UInt64) {
        let fd = clients[index].fd
        while clients[index].received < spec.size {
            let offset = clients[index].received
            let count = recv(fd, scratch.baseAddress, min(scratch.count, spec.size - offset), 0)
            if count > 0 {
                if memcmp(scratch.baseAddress!, payload.baseAddress! + offset, count) != 0 {
                    fail(index, .mismatch, now)
                    return
                }
                clients[index].received += count
                continue
            }
            if count == 0 { fail(index, .eof, now); return }
            let code = errno
            if code == EINTR { continue }
            if code == EAGAIN || code == EWOULDBLOCK { return }
            fail(index, .reset, now)
            return
        }
        complete(index, monotonicNanoseconds())
    }

    private func handle(_ index: Int, _ events: UInt32, _ now: UInt64) {
        switch clients[index].phase {
        case .idle:
            return
        case .connecting:
            if events & (EPOLLOUT.rawValue | EPOLLERR.rawValue | EPOLLHUP.rawValue) != 0 {
                clients[index].sent = 0
                clients[index].received = 0
                if spec.keepAlive { clients[index].started = now }
                clients[index].phase = .sending
                trySend(index, now, connecting: true)
            }
        case .sending:
            if events & EPOLLOUT.rawValue != 0 { trySend(index, now, connecting: false) }
            if events & EPOLLIN.rawValue != 0, clients[index].phase != .idle { tryReceive(index, now) }
        case .receiving:
            tryReceive(index, now)
        }
    }

    private func complete(_ index: Int, _ now: UInt64) {
        if now >= measureStart {
            counters.histogram.record(now - clients[index].started)
            counters.completed += 1
        }
        clients[index].onConnection += 1
        if !spec.keepAlive || (spec.perConnection > 0 && clients[index].onConnection >= spec.perConnection) {
            close(clients[index].fd)
            clients[index].fd = -1
        }
        clients[index].phase = .idle
        if spec.requests > 0, loadCompletedTotal.add(1, ordering: .relaxed).newValue >= spec.requests {
            loadStopRequested.store(true, ordering: .relaxed)
            return
        }
        if interval == 0 { begin(index, now) }
    }

    private func fail(_ index: Int, _ failure: Failure, _ now: UInt64) {
        switch failure {
        case .connect: counters.connectErrors += 1
        case .reset: counters.resets += 1
        case .eof: counters.earlyEOF += 1
        case .mismatch: counters.mismatches += 1
        case .timeout: counters.timeouts += 1
        }
        if clients[index].fd >= 0 {
            close(clients[index].fd)
            clients[index].fd = -1
        }
        clients[index].phase = .idle
        // A refused connect waits a millisecond, so that a server not yet up is not hammered.
        clients[index].notBefore = failure == .connect ? now + 1_000_000 : now
    }
}

/// A thread body boxed for pthread_create.
private final class ThreadBox {
    let body: () -> Void
    init(_ body: @escaping () -> Void) { self.body = body }
}

func startThread(_ body: @escaping () -> Void) -> pthread_t {
    var thread = pthread_t()
    let box = Unmanaged.passRetained(ThreadBox(body)).toOpaque()
    let code = pthread_create(&thread, nil, { raw in
        Unmanaged<ThreadBox>.fromOpaque(raw!).takeRetainedValue().body()
        return nil
    }, box)
    precondition(code == 0, "pthread_create failed: \(code)")
    return thread
}

/// Writes a line to stdout at once (the parent reads it through a pipe).
func emit(_ line: String) {
    var bytes = Array((line + "\n").utf8)[...]
    while !bytes.isEmpty {
        let written = bytes.withUnsafeBytes { write(1, $0.baseAddress, $0.count) }
        if written <= 0 { if errno == EINTR { continue } else { return } }
        bytes = bytes.dropFirst(written)
    }
}

/// Load mode: runs `spec` and prints `MEASURE` when the measured window starts and one `RESULT` line.
func runLoad(_ spec: LoadSpec) -> Int32 {
    // If the benchmark dies, so does its load.
    _ = cssd_set_parent_death_signal(SIGTERM)
    signal(SIGPIPE, SIG_IGN)
    signal(SIGTERM) { _ in loadStopRequested.store(true, ordering: .relaxed) }
    signal(SIGINT) { _ in loadStopRequested.store(true, ordering: .relaxed) }
    var limit = rlimit()
    getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    if limit.rlim_cur < limit.rlim_max {
        limit.rlim_cur = limit.rlim_max
        setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    }

    // The request: `size` bytes of printable text ending in a newline (a line for the Python peers).
    let payload = UnsafeMutableRawBufferPointer.allocate(byteCount: spec.size, alignment: 16)
    defer { payload.deallocate() }
    for index in 0..<spec.size { payload[index] = UInt8(ascii: "a") + UInt8(index % 26) }
    payload[spec.size - 1] = UInt8(ascii: "\n")

    let threadCount = spec.threads > 0 ? min(spec.threads, spec.clients) : min(2, spec.clients)
    let start = monotonicNanoseconds()
    let measureStart = start + UInt64(spec.warmup * 1e9)
    let end = spec.duration > 0 ? measureStart + UInt64(spec.duration * 1e9) : UInt64.max
    var loads: [LoadThread] = []
    for index in 0..<threadCount {
        let share = spec.clients / threadCount + (index < spec.clients % threadCount ? 1 : 0)
        loads.append(LoadThread(spec: spec, threadIndex: index, clientCount: share, payload: UnsafeRawBufferPointer(payload),
                                measureStart: measureStart, end: end))
    }
    var usageBefore = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usageBefore)
    let threads = loads.map { load in startThread { load.run() } }
    // Tell the parent when the measured window opens (it samples the server's CPU time then).
    while monotonicNanoseconds() < measureStart, !loadStopRequested.load(ordering: .relaxed) {
        usleep(1000)
    }
    let measuredFrom = monotonicNanoseconds()
    var usageAtMeasure = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usageAtMeasure)
    emit("MEASURE")
    for thread in threads { pthread_join(thread, nil) }
    let finished = monotonicNanoseconds()
    var usage = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
    func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
    let cpu = seconds(usage.ru_utime) + seconds(usage.ru_stime) - seconds(usageBefore.ru_utime) - seconds(usageBefore.ru_stime)
    let cpuMeasured = seconds(usage.ru_utime) + seconds(usage.ru_stime) - seconds(usageAtMeasure.ru_utime) - seconds(usageAtMeasure.ru_stime)

    var total = LoadCounters()
    for load in loads { total.merge(load.counters) }
    let elapsed = Double(finished - max(measuredFrom, measureStart)) / 1e9
    let h = total.histogram
    emit("RESULT requests=\(total.completed) seconds=\(elapsed) connect=\(total.connectErrors) reset=\(total.resets) "
         + "eof=\(total.earlyEOF) mismatch=\(total.mismatches) timeout=\(total.timeouts) stalled=\(total.stalled) "
         + "connections=\(total.connections) p50=\(h.value(at: 0.5)) p90=\(h.value(at: 0.9)) p99=\(h.value(at: 0.99)) "
         + "p999=\(h.value(at: 0.999)) max=\(h.maximum) mean=\(h.mean) cpu=\(cpu) cpu_measured=\(cpuMeasured)")
    return 0
}
