// The bytes between a request and its exec program, relayed by the handler so that it knows when
// data last moved: the connection both ways (a stream), the program's output (a datagram's reply).
#if canImport(Glibc)
import Glibc
#endif
import SocketServer

/// One direction of the relay: bytes read from `source` and sent to `sink`, or kept (a datagram's
/// reply, at most `keepLimit` bytes) when there is no sink. Every descriptor is non-blocking.
struct RelayFlow {
    let source: Int32
    let sink: Int32?
    /// Read and not yet sent (with a sink), or kept (without one).
    private(set) var bytes: [UInt8] = []
    private var sent = 0
    /// False once the source ended (end of file, or an error such as a reset).
    private(set) var reading = true
    /// False once the sink failed (its reader is gone): nothing more is read or sent.
    private var sending = true
    private var buffer = [UInt8](repeating: 0, count: 16 * 1024)
    static let keepLimit = 65507

    init(from source: Int32, to sink: Int32?) {
        self.source = source
        self.sink = sink
    }

    private var unsent: Int { sink == nil ? 0 : bytes.count - sent }

    /// The source to poll for input (-1: none now): only once what was read has been sent.
    var pollSource: Int32 { reading && unsent == 0 ? source : -1 }
    /// The sink to poll for room (-1: none now).
    var pollSink: Int32 { sending && unsent > 0 ? sink ?? -1 : -1 }

    /// Reads once from the source; true when bytes came. At the source's end (or on its error)
    /// the sink's sending side is shut once everything read has been sent, so the reader sees the
    /// end too: the program its end of input, the client the end of the program's output.
    mutating func read() -> Bool {
        let count: Int
        do {
            count = try retryingOnInterrupt { Glibc.read(source, &buffer, buffer.count) }
        } catch .wouldBlock {
            return false
        } catch {
            count = 0  // an error ends the reading as the end of input does
        }
        guard count > 0 else {
            reading = false
            if unsent == 0, let sink { _ = shutdown(sink, Int32(SHUT_WR)) }
            return false
        }
        if sink != nil || bytes.count < Self.keepLimit {
            bytes += buffer[..<(sink == nil ? min(count, Self.keepLimit - bytes.count) : count)]
        }
        return true
    }

    /// Sends what is pending once; true when bytes went. If the sink's reader is gone, the rest
    /// is dropped and the source's reading side shut: a program writing on gets EPIPE (SIGPIPE),
    /// as it would writing to a connection that was reset.
    mutating func send() -> Bool {
        guard let sink, unsent > 0 else { return false }
        let count: Int
        do {
            count = try retryingOnInterrupt {
                bytes[sent...].withUnsafeBytes { Glibc.send(sink, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            }
        } catch .wouldBlock {
            return false
        } catch {
            count = 0  // the reader is gone: the rest is dropped
        }
        guard count > 0 else {
            sending = false
            reading = false
            bytes = []
            sent = 0
            _ = shutdown(source, Int32(SHUT_RD))
            return false
        }
        sent += count
        if sent == bytes.count {
            bytes = []
            sent = 0
            if !reading { _ = shutdown(sink, Int32(SHUT_WR)) }
        }
        return true
    }
}

/// The relay of one request: `input` from the client to the program (streams only), `output`
/// from the program to the client or, for a datagram, kept as the reply. A program given the
/// connection itself has neither: then `watched`, a TCP connection, tells when data last moved.
struct ExecRelay {
    var input: RelayFlow?
    var output: RelayFlow?
    /// The TCP connection the program has as its stdin and stdout (-1: none), whose kernel
    /// counters say when data last moved on it (`quietTime`).
    private(set) var watched: Int32 = -1

    init(input: RelayFlow?, output: RelayFlow) {
        self.input = input
        self.output = output
    }

    /// No relay: the program has the connection `fd` itself; `watch` when its idle time matters.
    init(direct fd: Int32, watch: Bool) {
        watched = watch ? fd : -1
    }

    /// How long no data has moved either way on the watched TCP connection: the kernel's time since
    /// it last received data from the client and since it last sent the program's data (TCP_INFO,
    /// in milliseconds); nil without a watched connection or when the kernel does not say.
    func quietTime() -> Duration? {
        guard watched >= 0, let info = Self.tcpInfo(watched) else { return nil }
        return .milliseconds(min(info.tcpi_last_data_recv, info.tcpi_last_data_sent))
    }

    private static func tcpInfo(_ fd: Int32) -> tcp_info? {
        var info = tcp_info()
        var length = socklen_t(MemoryLayout<tcp_info>.size)
        guard getsockopt(fd, Int32(IPPROTO_TCP), TCP_INFO, &info, &length) == 0 else { return nil }
        return info
    }

    /// The poll entries the relay needs now, four in a fixed order (-1 where it needs none).
    var pollEntries: [pollfd] {
        [input?.pollSource ?? -1, input?.pollSink ?? -1, output?.pollSource ?? -1, output?.pollSink ?? -1].enumerated().map { index, fd in
            pollfd(fd: fd, events: Int16(index % 2 == 0 ? POLLIN : POLLOUT), revents: 0)
        }
    }

    /// Moves what the entries from `pollEntries` say is ready; true when any bytes moved.
    mutating func move(_ entries: ArraySlice<pollfd>) -> Bool {
        func ready(_ index: Int) -> Bool {
            let entry = entries[entries.startIndex + index]
            return entry.fd >= 0 && entry.revents != 0
        }
        var moved = false
        if ready(0) { moved = input!.read() || moved }
        if ready(1) { moved = input!.send() || moved }
        if ready(2) { moved = output!.read() || moved }
        if ready(3) { moved = output!.send() || moved }
        return moved
    }

    /// After the program ended: sends the output it left (what its source holds now, without
    /// waiting for more), waiting for the client to take it while it keeps taking some within `idle`.
    mutating func finishOutput(idle: Duration?) {
        guard var output else { return }
        defer { self.output = output }
        var lastMoved = ContinuousClock.now
        while true {
            if output.pollSource >= 0 {
                guard output.read() else { return }  // nothing more now, or the end
                lastMoved = .now
            }
            var entry = pollfd(fd: output.pollSink, events: Int16(POLLOUT), revents: 0)
            guard entry.fd >= 0 else {
                if output.pollSource < 0 { return }  // the client is gone, or a datagram's reply is complete
                continue
            }
            let left = idle.map { lastMoved.advanced(by: $0) - .now }
            if let left, left <= .zero { return }
            if poll(&entry, 1, pollMilliseconds(left)) > 0, output.send() { lastMoved = .now }
        }
    }
}
