// The pid file: written after start-up, removed at exit.
#if canImport(Glibc)
import Glibc
#endif

enum PidFile {
    static func write(_ path: String) throws(DaemonError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o644)
        guard fd >= 0 else { throw .system("pid_file \(path)", errno) }
        defer { close(fd) }
        let text = Array("\(getpid())\n".utf8)
        guard Glibc.write(fd, text, text.count) == text.count else { throw .system("pid_file \(path)", errno) }
    }

    static func remove(_ path: String) { unlink(path) }
}
