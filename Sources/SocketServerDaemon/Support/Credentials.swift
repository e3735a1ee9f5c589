// Who runs outside code: the account of `user =`/`group =`, and the switch to it in a forked child.
#if canImport(Glibc)
import Glibc
#endif
import CSocketServerShims

/// The account that everything running code or data from outside runs as: workers, their request
/// children, `exec` programs and the child that checks plugins. Resolved by the master from the
/// config when it runs as root (`user`, default "nobody"; `group`, default the user's own); nil
/// when the master is not root, and then children keep the master's user. The master itself stays
/// root and never switches (it binds ports below 1024 on reload and keeps root-only files).
struct Credentials: Equatable, Sendable, CustomStringConvertible {
    let user: String
    let uid: uid_t
    let gid: gid_t
    /// Supplementary groups (getgrouplist: `gid` and every group that lists the user).
    let groups: [gid_t]
    /// The highest capability number this kernel knows (/proc/sys/kernel/cap_last_cap).
    let lastCapability: Int32

    var description: String { "user \(user) (uid \(uid), gid \(gid))" }

    /// The credentials `config` names, or nil when this process is not root.
    static func resolve(for config: DaemonConfig) throws(DaemonError) -> Credentials? {
        guard geteuid() == 0 else {
            if let user = config.user { log.debug("not root: ignoring user = \(user)") }
            return nil
        }
        let user = config.user ?? DaemonKeys.defaultUser
        guard let account = Accounts.user(named: user) else { throw .message("user \(user) does not exist") }
        guard account.uid != 0 else { throw .message("user \(user) is root (uid 0); workers never run as root") }
        var gid = account.gid
        if let group = config.group {
            guard let id = Accounts.groupID(named: group) else { throw .message("group \(group) does not exist") }
            gid = id
        }
        return Credentials(user: user, uid: account.uid, gid: gid, groups: try supplementaryGroups(user, gid),
                           lastCapability: lastCapabilityNumber())
    }

    private static func supplementaryGroups(_ user: String, _ gid: gid_t) throws(DaemonError) -> [gid_t] {
        var count: Int32 = 32
        while count <= 65536 {
            var groups = [gid_t](repeating: 0, count: Int(count))
            var found = count
            if getgrouplist(user, gid, &groups, &found) >= 0 { return Array(groups.prefix(Int(found))) }
            count = max(count * 2, found)
        }
        throw .message("user \(user) is in too many groups")
    }

    /// From /proc/sys/kernel/cap_last_cap; where /proc/sys is hidden, found by asking the kernel
    /// about each number until it says there is no such capability.
    private static func lastCapabilityNumber() -> Int32 {
        let fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC)
        if fd >= 0 {
            defer { close(fd) }
            var bytes = [UInt8](repeating: 0, count: 16)
            let count = read(fd, &bytes, bytes.count)
            let text = count > 0 ? String(decoding: bytes[..<count], as: UTF8.self) : ""
            if let last = Int32(text.filter(\.isNumber)), (0...63).contains(last) { return last }
        }
        var last: Int32 = 0
        while last < 63, cssd_bounding_capability_read(last + 1) >= 0 { last += 1 }
        return last
    }

    /// Runs in a forked child while it has one thread (capabilities belong to threads; threads
    /// started later inherit them), before any code or data from outside is loaded. As root:
    /// empties the capability bounding set, takes the supplementary groups, the group and the user,
    /// and checks that root cannot be regained. In every case: empties the ambient, inheritable,
    /// permitted and effective capability sets, since a master started by systemd with
    /// `AmbientCapabilities=` passes them on to every child, and sets no_new_privs, so that no
    /// program a child executes (set-user-ID such as su, or with file capabilities such as ping)
    /// gains a privilege that this process has not. The parent-death signal, which the kernel
    /// clears when the user changes, is set again.
    static func apply(_ credentials: Credentials?) throws(DaemonError) {
        let deathSignal = cssd_parent_death_signal()
        if let credentials { try credentials.become() }
        // EINVAL: a kernel without ambient capabilities (before Linux 4.3), so none to clear.
        guard cssd_ambient_capabilities_clear() == 0 || errno == EINVAL else {
            throw .system("clearing the ambient capabilities (prctl PR_CAP_AMBIENT_CLEAR_ALL)", errno)
        }
        try clearCapabilities()
        guard cssd_no_new_privileges() == 0 else { throw .system("prctl PR_SET_NO_NEW_PRIVS", errno) }
        if deathSignal > 0 { _ = cssd_set_parent_death_signal(deathSignal) }
    }

    private func become() throws(DaemonError) {
        for capability in 0...lastCapability where cssd_bounding_capability_drop(capability) != 0 {
            throw .system("dropping capability \(capability) from the bounding set (prctl PR_CAPBSET_DROP)", errno)
        }
        guard setgroups(groups.count, groups) == 0 else { throw .system("setgroups for user \(user)", errno) }
        guard setgid(gid) == 0 else { throw .system("setgid \(gid)", errno) }
        guard setuid(uid) == 0 else { throw .system("setuid \(uid) (user \(user))", errno) }
        guard setuid(0) != 0, getuid() == uid, geteuid() == uid, getgid() == gid, getegid() == gid else {
            throw .message("could still regain root after becoming \(self)")
        }
        if let kept = (0...lastCapability).first(where: { cssd_bounding_capability_read($0) != 0 }) {
            throw .message("capability \(kept) is still in the bounding set after dropping it")
        }
    }

    /// Empties this thread's permitted, effective and inheritable sets (capset; nothing to do when
    /// they are empty already) and checks the result.
    private static func clearCapabilities() throws(DaemonError) {
        var effective: UInt64 = 0, permitted: UInt64 = 0, inheritable: UInt64 = 0
        guard cssd_capabilities_get(&effective, &permitted, &inheritable) == 0 else { throw .system("capget", errno) }
        guard effective | permitted | inheritable != 0 else { return }
        guard cssd_capabilities_clear() == 0 else {
            let code = errno
            let failure = DaemonError.system("emptying the capability sets (capset)", code).description
            guard code == EPERM else { throw .message(failure) }
            throw .message(failure + "; a system call filter may deny capset (systemd's SystemCallFilter=~@privileged "
                           + "does: add SystemCallFilter=capset to the unit)")
        }
        guard cssd_capabilities_get(&effective, &permitted, &inheritable) == 0,
              effective | permitted | inheritable == 0 else {
            throw .message("capabilities are still held after emptying them (capset)")
        }
    }
}

extension Credentials {
    /// Kills process group `group` with the permissions of `credentials` (nil: this process's own):
    /// the real and effective user id become theirs for the call, and the saved one stays root so
    /// that the master switches back. The master kills groups that workers name in shared memory;
    /// as root with its own permissions, a worker could have it kill any process on the system.
    static func kill(group: pid_t, _ signal: Int32, as credentials: Credentials?) {
        guard group > 1 else { return }
        guard let credentials, geteuid() == 0 else {
            _ = Glibc.kill(-group, signal)
            return
        }
        guard cssd_setresuid(credentials.uid, credentials.uid, 0) == 0 else {
            log.error("not killing process group \(group): cannot take the permissions of \(credentials): "
                      + "\(DaemonError.system("setresuid", errno))")
            return
        }
        _ = Glibc.kill(-group, signal)
        if cssd_setresuid(0, 0, 0) != 0 { log.error("cannot become root again after killing process group \(group): "
                                                + "\(DaemonError.system("setresuid", errno))") }
    }
}
