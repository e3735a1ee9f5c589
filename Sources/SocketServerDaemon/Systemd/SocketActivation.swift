// systemd socket activation: LISTEN_PID / LISTEN_FDS / LISTEN_FDNAMES, matched to services.
#if canImport(Glibc)
import Glibc
#endif
import SocketServer

enum SocketActivation {
    /// The first passed descriptor (SD_LISTEN_FDS_START).
    static let firstDescriptor: Int32 = 3

    /// Takes the sockets systemd passed (if LISTEN_PID is this process) and matches each to a
    /// listener by its bound address or, failing that, by its fd name (`FileDescriptorName=` = the
    /// service's name, or `metrics`). A socket that matches none is an error that names it. The variables
    /// are unset so that workers and exec'd programs do not see them.
    static func claim(for wants: [ListenerWant]) throws(DaemonError) -> [ListenAddress: Socket] {
        defer { for name in ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"] { unsetenv(name) } }
        guard let pidText = environment("LISTEN_PID"), pid_t(pidText) == getpid(),
              let countText = environment("LISTEN_FDS"), let count = Int32(countText), count > 0 else { return [:] }
        let names = environment("LISTEN_FDNAMES")?.split(separator: ":", omittingEmptySubsequences: false).map(String.init) ?? []
        var claimed: [ListenAddress: Socket] = [:]
        var unmatched: [String] = []
        for index in 0..<count {
            let fd = firstDescriptor + index
            let name = index < names.count ? names[Int(index)] : "unknown"
            guard let socket = try? Socket(adopting: fd), let bound = try? listenAddress(of: socket) else {
                unmatched.append("fd \(fd) (\(name)): not a socket")
                continue
            }
            let want = wants.first { $0.listen == bound } ?? wants.first { $0.name == name && $0.listen.socketType == socket.type }
            guard let want, claimed[want.listen] == nil else {
                unmatched.append("fd \(fd) \(bound) named '\(name)'")
                socket.close()
                continue
            }
            try? socket.setNonBlockingFlag(true)
            claimed[want.listen] = socket
            log.info("\(want.what): using socket \(bound) passed by systemd (fd \(fd))")
        }
        if !unmatched.isEmpty {
            for socket in claimed.values { _ = socket.detach() }
            throw .message("socket activation: passed socket(s) match no service: " + unmatched.joined(separator: ", "))
        }
        return claimed
    }

    /// The listen address a bound socket serves, in the config's terms.
    static func listenAddress(of socket: Socket) throws -> ListenAddress {
        let address = try socket.getSockName()
        switch (address, socket.type) {
        case (.unix(let path), .datagram): return .unixgram(path: path)
        case (.unix(let path), _): return .unix(path: path)
        case (_, .datagram): return .udp(address)
        default: return .tcp(address)
        }
    }

    private static func environment(_ name: String) -> String? {
        getenv(name).map { String(cString: $0) }
    }
}
