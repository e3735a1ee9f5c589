// Containment of what request programs leave behind: a worker (and the master) is a child
// subreaper, so every process a program starts, even one that escaped into a new session with
// setsid, is re-parented to it when its own parent dies, and can be killed and reaped here.
#if canImport(Glibc)
import Glibc
#endif
import CSocketServerShims
import SocketServer

enum Containment {
    /// Makes this process the reaper of its orphaned descendants.
    static func becomeSubreaper() {
        _ = cssd_set_child_subreaper(1)
    }

    /// This process's children, from /proc/self/task/*/children (one file per thread).
    static func children() -> [pid_t] {
        guard let tasks = opendir("/proc/self/task") else { return [] }
        defer { closedir(tasks) }
        var pids: [pid_t] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while let entry = readdir(tasks) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard Int32(name) != nil else { continue }
            let fd = open("/proc/self/task/\(name)/children", O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { continue }
            var text: [UInt8] = []
            while let count = try? retryingOnInterrupt({ read(fd, &buffer, buffer.count) }), count > 0 {
                text += buffer[..<count]
            }
            close(fd)
            pids += text.split(separator: UInt8(ascii: " ")).compactMap { pid_t(String(decoding: $0, as: UTF8.self)) }
        }
        return pids
    }

    /// Kills and reaps the processes programs left behind: children of this process that escaped
    /// into another session (setsid), or that belong to the process group of a program no request
    /// is running any more (`liveGroups`). Programs themselves (group leaders in this session),
    /// request children (in this process's group) and their jobs are left to their requests.
    /// Returns how many were killed.
    @discardableResult
    static func sweep(liveGroups: () -> Set<pid_t>) -> Int {
        let session = getsid(0)
        let group = getpgrp()
        var killed = 0
        var live: Set<pid_t>? = nil  // read only if a child is not a group leader of this session
        for child in children() {
            let childGroup = getpgid(child)
            guard childGroup >= 0 else { continue }  // already reaped
            let escaped = getsid(child) != session
            let leftBehind = !escaped && childGroup != child && childGroup != group && {
                if live == nil { live = liveGroups() }
                return live?.contains(childGroup) == false
            }()
            guard escaped || leftBehind else { continue }
            kill(child, SIGKILL)
            reap(child)
            killed += 1
        }
        return killed
    }

    /// Waits for `child`, which was just killed (it cannot take long), and drops its status.
    static func reap(_ child: pid_t) {
        var status: Int32 = 0
        _ = try? retryingOnInterrupt { waitpid(child, &status, 0) }
    }

    /// At the end of a worker (or the master): every child that is left, killed and reaped.
    static func killAllChildren() {
        for child in children() {
            kill(child, SIGKILL)
            reap(child)
        }
    }
}
