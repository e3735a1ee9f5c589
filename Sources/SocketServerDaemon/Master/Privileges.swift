// Started as root: bind first, then become the configured user for good.
#if canImport(Glibc)
import Glibc
#endif

enum Privileges {
    /// As root: chown the Unix socket files, then setgroups/setgid/setuid to `user` (default
    /// "nobody", as nginx does), and check that root cannot be regained. As a normal user, `user`
    /// and `group` are ignored.
    static func drop(config: DaemonConfig, unixPaths: [String]) throws(DaemonError) {
        guard geteuid() == 0 else {
            if config.user != nil { log.debug("not root: ignoring user = \(config.user!)") }
            return
        }
        let user = config.user ?? "nobody"
        guard let entry = getpwnam(user) else { throw .message("user \(user) does not exist") }
        let uid = entry.pointee.pw_uid
        var gid = entry.pointee.pw_gid
        if let group = config.group {
            guard let groupEntry = getgrnam(group) else { throw .message("group \(group) does not exist") }
            gid = groupEntry.pointee.gr_gid
        }
        for path in unixPaths where chown(path, uid, gid) != 0 {
            throw .system("chown \(path)", errno)
        }
        guard initgroups(user, gid) == 0 else { throw .system("initgroups \(user)", errno) }
        guard setgid(gid) == 0 else { throw .system("setgid \(gid)", errno) }
        guard setuid(uid) == 0 else { throw .system("setuid \(uid)", errno) }
        guard setuid(0) != 0 else { throw .message("could still regain root after dropping to \(user)") }
        log.info("dropped privileges to user \(user) (uid \(uid), gid \(gid))")
    }
}
