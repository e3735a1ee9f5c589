// One thread of the load generator: an epoll loop over its slice of the clients, non-blocking
// sockets, preallocated buffers, no allocation per request; and the counters it keeps.
#if canImport(Glibc)
import Glibc
#endif
import SocketServer
import CSocketServerBench
import CSocketServerShims
import Synchronization

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
    var connections = 0
    var failures = FailureCounts()
    var histogram = Histogram()

    mutating func merge(_ other: LoadCounters) {
        completed += other.completed
        connections += other.connections
        failures.add(other.failures)
        histogram.merge(other.histogram)
    }
}

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
            if now > clients[index].started && now - clients[index].started >= stallAge { counters.failures[.stalled] += 1 }
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
            do {
                let count = try retryingOnInterrupt { Glibc.send(fd, payload.baseAddress! + offset, spec.size - offset, Int32(MSG_NOSIGNAL)) }
                if count > 0 { clients[index].sent += count; continue }
            } catch .wouldBlock {
                return
            } catch {}
            fail(index, connecting ? .connect : .reset, now)
            return
        }
        clients[index].phase = .receiving
    }

    private func tryReceive(_ index: Int, _ now: UInt64) {
        let fd = clients[index].fd
        while clients[index].received < spec.size {
            let offset = clients[index].received
            let count: Int
            do {
                count = try retryingOnInterrupt { recv(fd, scratch.baseAddress, min(scratch.count, spec.size - offset), 0) }
            } catch .wouldBlock {
                return
            } catch {
                fail(index, .reset, now)
                return
            }
            if count > 0 {
                if memcmp(scratch.baseAddress!, payload.baseAddress! + offset, count) != 0 {
                    fail(index, .mismatch, now)
                    return
                }
                clients[index].received += count
                continue
            }
            fail(index, .eof, now)
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

    private func fail(_ index: Int, _ failure: LoadFailure, _ now: UInt64) {
        counters.failures[failure] += 1
        if clients[index].fd >= 0 {
            close(clients[index].fd)
            clients[index].fd = -1
        }
        clients[index].phase = .idle
        // A refused connect waits a millisecond, so that a server not yet up is not hammered.
        clients[index].notBefore = failure == .connect ? now + 1_000_000 : now
    }
}

