// The control socket's file: a Unix stream socket the master creates (mode 0660, owned by it and
// the daemon's group), keeps across reloads, hands over on a binary upgrade and removes at exit.
#if canImport(Glibc)
import Glibc
#endif
import SocketServer

/// The listening control socket and the file it is bound to.
final class ControlSocket {
    static let mode: mode_t = 0o660
    let path: String
    let socket: Socket
    /// The inode of the file this master bound (or took over), so that exit never removes a file
    /// something else has put at the path since.
    private let inode: ino_t

    private init(path: String, socket: Socket, inode: ino_t) {
        self.path = path
        self.socket = socket
        self.inode = inode
    }

    /// Binds `path`, replacing a stale socket file (one nothing accepts on); a live socket or
    /// anything that is not a socket is refused. The file is created with its final owner, group
    /// and mode in one step: the umask gives 0660 and, as root, the effective group is `group`
    /// while binding, so nobody else can connect in between. Owned by this process's user.
    static func open(path: String, group: gid_t) throws(DaemonError) -> ControlSocket {
        let what = "control_socket \(path)"
        let address = SocketAddress.unix(path: path)
        try Listeners.prepareUnixPath(address, type: .stream, what: what)
        let socket: Socket
        do {
            socket = try Socket(family: .unix, type: .stream)
            try bindCreating(socket, address, group: group)
        } catch let error as DaemonError {
            throw error
        } catch {
            throw .message("\(what): \(error)")
        }
        var info = stat()
        guard lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFSOCK else {
            socket.close()
            throw .message("\(what): the socket file vanished after binding")
        }
        let control = ControlSocket(path: path, socket: socket, inode: info.st_ino)
        do {
            // A set-group-ID directory gives its own group to new files: the daemon's is set here.
            if info.st_gid != group, lchown(path, uid_t.max, group) != 0 { throw DaemonError.system("\(what): chown", errno) }
            try socket.listen(64)
            try socket.setBlocking(false)
        } catch let error as DaemonError {
            control.close()
            throw error
        } catch {
            control.close()
            throw .message("\(what): \(error)")
        }
        return control
    }

    private static func bindCreating(_ socket: Socket, _ address: SocketAddress, group: gid_t) throws {
        let savedMask = umask(~Self.mode & 0o777)
        let switchGroup = geteuid() == 0 && getegid() != group
        if switchGroup, setegid(group) != 0 {
            umask(savedMask)
            throw DaemonError.system("setegid \(group)", errno)
        }
        defer {
            if switchGroup { _ = setegid(0) }
            umask(savedMask)
        }
        try socket.bind(address)
    }

    /// The control socket at `path` (nil: none) when the master starts: after a binary upgrade the
    /// previous image's if it is bound there, else a new one (a socket handed over for another
    /// path is closed and its file removed).
    static func make(path: String?, handedOver: (fd: Int32, path: String)?, group: gid_t) throws(DaemonError) -> ControlSocket? {
        let adopted = handedOver.flatMap { adopt(fd: $0.fd, path: $0.path) }
        if let adopted, adopted.path == path { return adopted }
        adopted?.close()
        return try path.map { path throws(DaemonError) in try open(path: path, group: group) }
    }

    /// After a binary upgrade: the socket the previous image held, if `fd` is still a listening
    /// Unix socket bound to `path`; nil (and `fd` closed) otherwise.
    static func adopt(fd: Int32, path: String) -> ControlSocket? {
        guard let socket = try? Socket(adopting: fd) else {
            Glibc.close(fd)
            return nil
        }
        var info = stat()
        guard socket.family == .unix, (try? socket.getSockName()) == .unix(path: path),
              lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFSOCK, (try? socket.setBlocking(false)) != nil else {
            socket.close()
            return nil
        }
        return ControlSocket(path: path, socket: socket, inode: info.st_ino)
    }

    /// Closes the socket and removes its file, unless the path now names another file.
    func close() {
        socket.close()
        var info = stat()
        guard lstat(path, &info) == 0, info.st_ino == inode, info.st_mode & S_IFMT == S_IFSOCK else { return }
        if unlink(path) != 0, errno != ENOENT {
            log.warning("control_socket: cannot remove \(path): \(DaemonError.system("unlink", errno))")
        }
    }
}
