// `metrics =` checked against the machine by `--check-config` and by a reload: an address another
// program holds is an error at the key's line, while the running daemon's own listener is not.
#if canImport(Glibc)
import Glibc
#endif
import SocketServer

enum MetricsListenerCheck {
    /// Who checks, which decides how the running daemon's own listener is told apart.
    enum Checker {
        /// `--check-config` (the binary upgrade's check too), a process of its own: an address
        /// in use is the running daemon's when a socketserverd metrics process answers on it.
        case outside
        /// The master, on a reload: the addresses it holds are its own, and it asks nobody.
        case master(holding: Set<ListenAddress>)
    }

    /// Whether an address can be bound now.
    enum Availability: Equatable {
        case free
        case inUse
        /// It cannot be bound whoever holds it (the reason).
        case unusable(String)
    }

    /// How long `--check-config` waits for whatever holds the address to answer.
    static let answerTimeout: Duration = .seconds(2)

    /// The error at the `metrics` line, if its address is taken (nil checker: not checked; the
    /// start-up binds it and says so).
    static func problems(_ config: DaemonConfig, _ sources: ConfigSources, checker: Checker?) -> [ConfigError] {
        guard let checker, let address = config.metrics, let entry = ConfigValidator.metricsEntry(sources) else { return [] }
        if case .master(let holding) = checker, holding.contains(address) { return [] }
        let problem: String
        switch probe(address) {
        case .free:
            return []
        case .unusable(let why):
            problem = why
        case .inUse:
            if case .outside = checker {
                if answersAsMetrics(address) { return [] }
                problem = "the address is in use by another program (it does not answer as socketserverd's metrics)"
            } else {
                problem = "the address is in use by another program"
            }
        }
        return [ConfigError("\(entry.key) \(address): \(problem)", at: entry.location)]
    }

    /// Whether `address` could be bound now, found without keeping anything bound or listening.
    static func probe(_ address: ListenAddress) -> Availability {
        switch address {
        case .tcp(let inet): return probeTCP(inet)
        case .unix(let path): return probeUnix(path)
        case .udp, .unixgram: return .free  // not a metrics listener (the key refuses them)
        }
    }

    /// A bind, with the options the daemon binds with (SO_REUSEADDR: a port in TIME_WAIT is free).
    /// Only what the daemon would also meet is reported: not EACCES, which a non-root check of a
    /// low port gets and the daemon, as root, does not.
    private static func probeTCP(_ address: SocketAddress) -> Availability {
        guard let socket = try? Socket(family: address.family, type: .stream) else { return .free }
        defer { socket.close() }
        try? socket.setOption(.reuseAddress, true)
        if address.family == .inet6 { try? socket.setOption(.ipv6Only, true) }
        do {
            try socket.bind(address)
            return .free
        } catch {
            switch error.errno {
            case EADDRINUSE: return .inUse
            case EADDRNOTAVAIL: return .unusable("\(address.host) is not an address of this host")
            default: return .free
            }
        }
    }

    /// A socket file is in use when something accepts on it; a stale one is removed at start-up.
    private static func probeUnix(_ path: String) -> Availability {
        var info = stat()
        guard lstat(path, &info) == 0 else {
            let directory = ConfigFiles.directory(of: path)
            var directoryInfo = stat()
            guard stat(directory, &directoryInfo) == 0 else {
                return .unusable("its directory \(directory): \(Errno(rawValue: errno).description)")
            }
            return directoryInfo.st_mode & S_IFMT == S_IFDIR ? .free : .unusable("\(directory) is not a directory")
        }
        guard info.st_mode & S_IFMT == S_IFSOCK else { return .unusable("\(path) exists and is not a socket") }
        guard let probe = try? Socket(family: .unix, type: .stream) else { return .free }
        defer { probe.close() }
        try? probe.setNonBlockingFlag(true)
        switch (try? probe.connectEx(.unix(path: path))) ?? EINVAL {
        case 0, EAGAIN, EINPROGRESS, EPROTOTYPE: return .inUse
        default: return .free  // refused: stale; or this checker may not connect (the daemon decides at start)
        }
    }

    /// Whether a socketserverd metrics process answers `HEAD /metrics` at `address` within
    /// `answerTimeout` (its `Server:` header says so).
    static func answersAsMetrics(_ address: ListenAddress) -> Bool {
        guard let socket = try? Socket(family: address.address.family, type: .stream) else { return false }
        defer { socket.close() }
        let deadline = ContinuousClock.now.advanced(by: answerTimeout)
        var response: [UInt8] = []
        do {
            try socket.setTimeout(answerTimeout)
            try socket.connect(address.address)
            try socket.sendAll("HEAD \(MetricsHTTP.path) HTTP/1.0\r\n\r\n")
            while MetricsHTTP.headerEnd(response) == nil, response.count < MetricsHTTP.maximumRequest {
                let left = ContinuousClock.now.duration(to: deadline)
                guard left > .zero else { break }
                try socket.setTimeout(left)
                let chunk = try socket.recv(MetricsHTTP.maximumRequest - response.count)
                if chunk.isEmpty { break }
                response += chunk
            }
        } catch {
            return false
        }
        return MetricsHTTP.isOwnResponse(response)
    }
}
