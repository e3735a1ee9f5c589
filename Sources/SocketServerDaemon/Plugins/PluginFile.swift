// Before any plugin code is mapped: the file must be a regular file that only its owner can change,
// in a directory that only its owner can change, owned by root or by the user loading it.
#if canImport(Glibc)
import Glibc
#endif

enum PluginFile {
    /// The canonical path of a plugin file that is safe to load, or why it is not.
    static func check(_ path: String) -> Result<String, PluginFault> {
        var info = stat()
        guard lstat(path, &info) == 0 || errno != ENOENT else {
            return .failure(PluginFault("plugin file \(path) does not exist"))
        }
        guard let resolved = realpath(path, nil) else {
            let code = errno
            if code == ENOENT { return .failure(PluginFault("plugin file \(path) does not exist (dangling symbolic link)")) }
            return .failure(PluginFault("plugin file \(path): \(String(cString: strerror(code)))"))
        }
        let real = String(cString: resolved)
        free(resolved)
        let shown = real == path ? path : "\(path) (\(real))"
        guard stat(real, &info) == 0 else {
            return .failure(PluginFault("plugin file \(shown): \(String(cString: strerror(errno)))"))
        }
        guard info.st_mode & S_IFMT == S_IFREG else {
            return .failure(PluginFault("plugin file \(shown) is not a regular file"))
        }
        if let problem = ownership(info, what: "plugin file \(shown)") { return .failure(problem) }
        let directory = ConfigFiles.directory(of: real)
        guard stat(directory, &info) == 0 else {
            return .failure(PluginFault("plugin directory \(directory): \(String(cString: strerror(errno)))"))
        }
        if let problem = ownership(info, what: "plugin directory \(directory) (of \(path))") { return .failure(problem) }
        guard access(real, R_OK) == 0 else {
            return .failure(PluginFault("plugin file \(shown) is not readable by uid \(geteuid())"))
        }
        return .success(real)
    }

    /// Refuses what someone other than its owner may write, or what an unrelated user owns:
    /// whoever can change a plugin runs code inside the daemon.
    static func ownership(_ info: stat, what: String) -> PluginFault? {
        let mode = info.st_mode & 0o7777
        if mode & 0o022 != 0 {
            let who = mode & 0o002 != 0 ? "everyone" : "its group"
            return PluginFault("\(what) is writable by \(who) (mode \(octal(mode))); refusing to load code "
                + "others can change (chmod go-w)")
        }
        if info.st_uid != 0 && info.st_uid != geteuid() {
            return PluginFault("\(what) is owned by uid \(info.st_uid), neither root nor the daemon's user "
                + "(uid \(geteuid())); refusing to load it")
        }
        return nil
    }

    static func octal(_ mode: mode_t) -> String {
        let digits = String(mode, radix: 8)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }
}

/// Why a plugin cannot be used; `description` is the whole message.
struct PluginFault: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
