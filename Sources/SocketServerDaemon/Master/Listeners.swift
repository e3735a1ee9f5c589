// The master's listening sockets, keyed by address, kept across reloads.
#if canImport(Glibc)
import Glibc
#endif
import SocketServer

extension ListenAddress {
    /// The file of a Unix socket (not an abstract one), or nil.
    var unixPath: String? {
        guard case .unix(let path) = address, !address.isAbstract, !path.isEmpty else { return nil }
        return path
    }
}

/// One listening socket the configuration asks for: a service's `listen`, or the metrics listener.
struct ListenerWant {
    /// For messages: "service NAME", or "metrics".
    let what: String
    /// What socket activation matches a passed socket's name (`FileDescriptorName=`) against.
    let name: String
    let listen: ListenAddress
    var socketOwner: SocketOwner? = nil
    var socketMode: UInt32? = nil

    init(_ service: ServiceConfig) {
        what = "service \(service.name)"
        name = service.name
        listen = service.listen
        socketOwner = service.socketOwner
        socketMode = service.socketMode
    }

    init(metrics: ListenAddress) {
        what = "metrics"
        name = "metrics"
        listen = metrics
    }

    /// Every listener `config` needs: its services', then the metrics listener.
    static func all(in config: DaemonConfig) -> [ListenerWant] {
        config.services.map(ListenerWant.init) + (config.metrics.map { [ListenerWant(metrics: $0)] } ?? [])
    }
}

/// Every listening socket the master holds. A reload asks for the new config's addresses: those
/// already open are handed back unchanged (the same socket, so no connection is refused), new ones
/// are bound, and the rest are closed (a Unix socket's file is removed).
final class Listeners {
    private(set) var sockets: [ListenAddress: Socket] = [:]
    /// Sockets passed in by systemd socket activation, not yet claimed by a service.
    var inherited: [ListenAddress: Socket] = [:] {
        didSet { systemdOwned.formUnion(inherited.keys) }
    }
    /// Addresses whose socket systemd owns: their files are never unlinked here.
    private var systemdOwned: Set<ListenAddress> = []
    /// Who Unix socket files without a `socket_owner` are given to: the workers' account (nil
    /// when the master is not root, and the files stay its user's).
    var fileOwner: Credentials? = nil

    func isSystemdOwned(_ address: ListenAddress) -> Bool { systemdOwned.contains(address) }

    /// Every address a socket is held for (bound here, handed over, or passed by systemd).
    var heldAddresses: Set<ListenAddress> { Set(sockets.keys).union(inherited.keys) }

    /// After a binary upgrade: the sockets the previous image held, by address, become this
    /// image's (those systemd passed stay systemd's).
    func adopt(_ handed: [ListenAddress: Socket], systemd: Set<ListenAddress>) {
        sockets = handed
        systemdOwned.formUnion(systemd)
    }

    /// Opens what `wants` need and is not open yet. All or nothing: on failure the sockets opened
    /// by this call are closed again and the error names the service (or metrics) and address.
    func open(for wants: [ListenerWant]) throws(DaemonError) -> [ListenAddress: Socket] {
        var result: [ListenAddress: Socket] = [:]
        var opened: [ListenAddress: Socket] = [:]
        do throws(DaemonError) {
            for want in wants {
                if let socket = sockets[want.listen] {
                    result[want.listen] = socket
                    continue
                }
                if let socket = inherited.removeValue(forKey: want.listen) {
                    result[want.listen] = socket
                    try Listeners.giveSocketFile(of: want, to: fileOwner)
                    continue
                }
                let socket = try Listeners.bind(want, owner: fileOwner)
                opened[want.listen] = socket
                result[want.listen] = socket
            }
        } catch {
            for (address, socket) in opened { discard(address, socket) }
            throw error
        }
        return result
    }

    /// Makes `current` the set held, closing (and unlinking) everything else.
    func commit(_ current: [ListenAddress: Socket]) {
        let pathsInUse = Set(current.keys.compactMap(\.unixPath))
        for (address, socket) in sockets where current[address] !== socket {
            discard(address, socket, unlinking: !pathsInUse.contains(address.unixPath ?? ""))
        }
        sockets = current
    }

    /// Closes everything (master exit).
    func closeAll() {
        commit([:])
        for (address, socket) in inherited { discard(address, socket) }
        inherited = [:]
    }

    /// In a worker: closes every socket except `keep`, without unlinking any file.
    func closeAll(except keep: Socket?) {
        for socket in sockets.values where socket !== keep { socket.close() }
        for socket in inherited.values where socket !== keep { socket.close() }
    }

    func discard(_ address: ListenAddress, _ socket: Socket, unlinking: Bool = true) {
        socket.close()
        if unlinking, let path = address.unixPath, !systemdOwned.contains(address), unlink(path) != 0, errno != ENOENT {
            log.warning("\(address): cannot remove the socket file: \(DaemonError.system("unlink \(path)", errno))")
        }
    }

    /// Binds one listener's address; for TCP, SO_REUSEADDR so a restart doesn't wait for TIME_WAIT.
    static func bind(_ want: ListenerWant, owner: Credentials?) throws(DaemonError) -> Socket {
        let address = want.listen.address
        let what = "\(want.what): \(want.listen)"
        do {
            let socket = try Socket(family: address.family, type: want.listen.socketType)
            if address.family == .unix {
                try prepareUnixPath(address, type: want.listen.socketType, what: what)
            } else {
                try socket.setOption(.reuseAddress, true)
                if address.family == .inet6 { try socket.setOption(.ipv6Only, true) }
            }
            try socket.bind(address)
            if case .unix(let path) = address, !address.isAbstract {
                if let socketOwner = want.socketOwner { try chownSocket(path, socketOwner, what: what) }
                try giveSocketFile(of: want, to: owner)
                if let mode = want.socketMode {
                    guard chmod(path, mode_t(mode)) == 0 else { throw DaemonError.system("\(what): chmod", errno) }
                }
            }
            if !want.listen.isDatagram { try socket.listen(1024) }
            try socket.setNonBlockingFlag(true)
            return socket
        } catch let error as DaemonError {
            throw error
        } catch {
            throw .message("\(what): \(error)")
        }
    }

    /// Gives a Unix socket file without a `socket_owner` to the workers' account.
    static func giveSocketFile(of want: ListenerWant, to owner: Credentials?) throws(DaemonError) {
        guard let owner, want.socketOwner == nil, let path = want.listen.unixPath else { return }
        guard chown(path, owner.uid, owner.gid) == 0 else {
            throw .system("\(want.what): \(want.listen): chown \(path) to \(owner.user)", errno)
        }
    }

    /// Gives a Unix socket file to `socket_owner` (as root any user; otherwise only one's own groups).
    static func chownSocket(_ path: String, _ owner: SocketOwner, what: String) throws(DaemonError) {
        guard let user = getpwnam(owner.user) else { throw .message("\(what): socket_owner user \(owner.user) does not exist") }
        var gid = user.pointee.pw_gid
        if let group = owner.group {
            guard let entry = getgrnam(group) else { throw .message("\(what): socket_owner group \(group) does not exist") }
            gid = entry.pointee.gr_gid
        }
        guard chown(path, user.pointee.pw_uid, gid) == 0 else { throw .system("\(what): chown \(path) to \(owner.user)", errno) }
    }

    /// A stale socket file from a dead daemon is removed; a live one (something accepts on it) is
    /// never stolen; anything that is not a socket is left alone and refused.
    static func prepareUnixPath(_ address: SocketAddress, type: SocketType, what: String) throws(DaemonError) {
        guard case .unix(let path) = address, !address.isAbstract else { return }
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        guard info.st_mode & S_IFMT == S_IFSOCK else {
            throw .message("\(what): \(path) exists and is not a socket; refusing to replace it")
        }
        // Only "connection refused" means nobody is bound there. Anything else is live or unknown:
        // accepted (or EAGAIN, a full backlog: the probe does not block), EPROTOTYPE (a socket of
        // the other type, stream or datagram), EACCES (another user's socket) and the rest.
        let probe: Socket
        do {
            probe = try Socket(family: .unix, type: type)
            try probe.setNonBlockingFlag(true)
        } catch {
            throw .message("\(what): cannot check whether \(path) is in use: \(error)")
        }
        defer { probe.close() }
        let code = (try? probe.connectEx(address)) ?? EINVAL
        switch code {
        case ECONNREFUSED:
            break
        case 0, EAGAIN:
            throw .message("\(what): \(path) is in use by a running process")
        case EPROTOTYPE:
            throw .message("\(what): \(path) is in use by a running process, as a socket of the other type "
                           + "(stream or datagram); use another path")
        default:
            throw .message("\(what): cannot tell whether \(path) is in use (connect: \(String(cString: strerror(code)))); "
                           + "refusing to replace it")
        }
        guard unlink(path) == 0 || errno == ENOENT else { throw .system("\(what): removing stale \(path)", errno) }
    }
}
