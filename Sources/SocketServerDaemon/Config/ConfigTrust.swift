// Who may have written a config file. Whoever can change the main file, an include, or a directory
// one of them sits in can make the daemon run programs (exec) or load code (plugins), so config
// files are held to the rule plugin files are held to.
#if canImport(Glibc)
import Glibc
#endif

/// The rule for config files and the directories they sit in: not writable by group or others
/// (a sticky bit, as on /tmp, does not help: anyone may still add a file), and owned by root, or,
/// for a daemon not started as root, by root or the user running it.
struct ConfigTrust: Sendable {
    /// True when the daemon starts as root: every file and directory must be root's.
    let forRoot: Bool

    /// Why the file `path` (opened, `info` from its fstat) may not be read, or nil.
    /// Checks the file, the directory it is named in and, behind symbolic links, the directory it is in.
    func problem(file path: String, _ info: stat) -> String? {
        if let why = problem(info, path: path, subject: "it") {
            return "refusing \(path): \(why); whoever can write a config file can make the daemon run programs"
        }
        var directories = [ConfigFiles.canonical(ConfigFiles.directory(of: path))]
        let real = ConfigFiles.directory(of: ConfigFiles.canonical(path))
        if real != directories[0] { directories.append(real) }
        for directory in directories {
            var directoryInfo = stat()
            guard stat(directory, &directoryInfo) == 0 else {
                return "refusing \(path): cannot check its directory \(directory): \(String(cString: strerror(errno)))"
            }
            if let why = problem(directoryInfo, path: directory, subject: "its directory \(directory)") {
                return "refusing \(path): \(why); whoever can write there can add or replace config files"
            }
        }
        return nil
    }

    /// Why the directory `path` (`info` from its stat), which an include's glob lists, may not be
    /// trusted, or nil.
    func problem(directory path: String, _ info: stat) -> String? {
        problem(info, path: path, subject: "the directory \(path)").map {
            "\($0); whoever can write there can add config files"
        }
    }

    /// The mode and owner rule for one file or directory; `subject` names it in the message.
    private func problem(_ info: stat, path: String, subject: String) -> String? {
        let mode = info.st_mode & 0o7777
        if mode & 0o022 != 0 {
            let who = mode & 0o002 != 0 ? "everyone" : "its group"
            let sticky = mode & S_ISVTX != 0 ? ", sticky bit or not" : ""
            return "\(subject) is writable by \(who) (mode \(PluginFile.octal(mode))\(sticky); chmod go-w \(path))"
        }
        if forRoot {
            guard info.st_uid == 0 else {
                return "\(subject) is owned by uid \(info.st_uid), not root (the daemon runs as root; chown root \(path))"
            }
        } else if info.st_uid != 0 && info.st_uid != geteuid() {
            return "\(subject) is owned by uid \(info.st_uid), neither root nor the daemon's user (uid \(geteuid()))"
        }
        return nil
    }
}
