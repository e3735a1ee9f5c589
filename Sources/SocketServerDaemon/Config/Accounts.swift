// Looking up the `user =` and `group =` accounts (reentrant getpwnam_r/getgrnam_r).
#if canImport(Glibc)
import Glibc
#endif

enum Accounts {
    static func userExists(_ name: String) -> Bool { user(named: name) != nil }

    static func groupExists(_ name: String) -> Bool { groupID(named: name) != nil }

    /// The user's id and primary group, or nil if there is no such user.
    static func user(named name: String) -> (uid: uid_t, gid: gid_t)? {
        lookup { buffer, size in
            var entry = passwd()
            var result: UnsafeMutablePointer<passwd>? = nil
            let code = getpwnam_r(name, &entry, buffer, size, &result)
            return (code, result.map { ($0.pointee.pw_uid, $0.pointee.pw_gid) })
        }
    }

    static func groupID(named name: String) -> gid_t? {
        lookup { buffer, size in
            var entry = group()
            var result: UnsafeMutablePointer<group>? = nil
            let code = getgrnam_r(name, &entry, buffer, size, &result)
            return (code, result.map { $0.pointee.gr_gid })
        }
    }

    /// Runs a `get*_r` call, growing its buffer on ERANGE (up to 1 MiB).
    private static func lookup<Found>(_ call: (UnsafeMutablePointer<CChar>, Int) -> (Int32, Found?)) -> Found? {
        var size = 16 * 1024
        while size <= 1024 * 1024 {
            var buffer = [CChar](repeating: 0, count: size)
            let (code, found) = buffer.withUnsafeMutableBufferPointer { call($0.baseAddress!, $0.count) }
            if code == ERANGE {
                size *= 2
                continue
            }
            return code == 0 ? found : nil
        }
        return nil
    }
}
