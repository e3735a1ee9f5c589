// File system access for the loader: reading a config file with limits, glob(), realpath().
#if canImport(Glibc)
import Glibc
#endif

enum ConfigFiles {
    /// The largest config file accepted, in bytes.
    static let maximumFileSize = 4 * 1024 * 1024

    /// The file's bytes, or a message saying why it cannot be used.
    static func read(_ path: String) -> Result<[UInt8], ReadFailure> {
        if path.utf8.contains(0) { return .failure(ReadFailure("cannot read \(ConfigText.quoted(path)): path contains a NUL byte")) }
        // O_NONBLOCK: opening a FIFO must not hang; only regular files are read.
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
        guard fd >= 0 else { return .failure(.errno("cannot read \(path)", Glibc.errno)) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { return .failure(.errno("cannot read \(path)", Glibc.errno)) }
        switch info.st_mode & S_IFMT {
        case S_IFREG: break
        case S_IFDIR: return .failure(ReadFailure("cannot read \(path): it is a directory"))
        default: return .failure(ReadFailure("cannot read \(path): not a regular file"))
        }
        // Anyone who can write the config can make the daemon run programs (exec) or load code.
        if info.st_mode & S_IWOTH != 0 {
            return .failure(ReadFailure("refusing \(path): it is writable by every user (mode "
                + String(info.st_mode & 0o7777, radix: 8) + "); chmod o-w it"))
        }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if Glibc.errno == EINTR { continue }
                return .failure(.errno("cannot read \(path)", Glibc.errno))
            }
            if count == 0 { return .success(bytes) }
            bytes.append(contentsOf: chunk[..<count])
            if bytes.count > maximumFileSize {
                return .failure(ReadFailure("\(path) is larger than the limit of \(maximumFileSize) bytes (4 MiB)"))
            }
        }
    }

    struct ReadFailure: Error, Equatable {
        var message: String
        init(_ message: String) { self.message = message }
        static func errno(_ what: String, _ code: Int32) -> ReadFailure {
            ReadFailure("\(what): \(String(cString: strerror(code)))")
        }
    }

    /// The paths matching `pattern`, in byte order (not the locale's collation).
    static func glob(_ pattern: String) -> Result<[String], ReadFailure> {
        if pattern.utf8.contains(0) { return .success([]) }
        var result = glob_t()
        defer { globfree(&result) }
        let code = Glibc.glob(pattern, 0, nil, &result)
        switch code {
        case 0: break
        case GLOB_NOMATCH: return .success([])
        case GLOB_NOSPACE: return .failure(ReadFailure("include \(ConfigText.quoted(pattern)): out of memory"))
        default: return .failure(ReadFailure("include \(ConfigText.quoted(pattern)): cannot read a directory"))
        }
        var paths: [String] = []
        for index in 0..<Int(result.gl_pathc) {
            if let path = result.gl_pathv[index] { paths.append(String(cString: path)) }
        }
        return .success(paths.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) })
    }

    /// True if `pattern` has glob metacharacters; a literal path must exist, a pattern need not match.
    static func isPattern(_ text: String) -> Bool {
        text.contains { $0 == "*" || $0 == "?" || $0 == "[" }
    }

    /// Escapes glob metacharacters so that a directory name is matched literally.
    static func escapeForGlob(_ text: String) -> String {
        var escaped = ""
        for character in text {
            if character == "*" || character == "?" || character == "[" || character == "\\" { escaped.append("\\") }
            escaped.append(character)
        }
        return escaped
    }

    /// The canonical path (symlinks resolved), or the path itself if it cannot be resolved.
    static func canonical(_ path: String) -> String {
        guard let resolved = realpath(path, nil) else { return path }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// The directory part of `path`: "/etc/x" for "/etc/x/a.conf", "." for "a.conf".
    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        if slash == path.startIndex { return "/" }
        return String(path[..<slash])
    }

    /// `path` taken relative to `directory` unless it is absolute.
    static func resolve(_ path: String, relativeTo directory: String) -> String {
        if path.hasPrefix("/") || directory == "." { return path }
        return directory == "/" ? "/" + path : directory + "/" + path
    }
}
