// The `directory` key of the handlers that run programs: the working directory they start in.
#if canImport(Glibc)
import Glibc
#endif

/// One definition for every handler that starts programs, so the key means the same everywhere.
public enum WorkingDirectory {
    public static let key = "directory"
    public static let defaultValue = "/"
    public static let doc = "the working directory the program starts in: an absolute path to an existing directory"

    /// Why `path` cannot be a working directory for this process's user (the workers' user, when
    /// the daemon's check runs as root), or nil.
    static func problem(_ path: String) -> String? {
        guard path.hasPrefix("/") else { return "must be an absolute path, not \"\(path)\"" }
        var info = stat()
        guard stat(path, &info) == 0 else { return "\(path): \(errorText(errno))" }
        guard info.st_mode & S_IFMT == S_IFDIR else { return "\(path) is not a directory" }
        guard access(path, X_OK) == 0 else { return "\(path) cannot be entered by uid \(geteuid()): \(errorText(errno))" }
        return nil
    }
}
