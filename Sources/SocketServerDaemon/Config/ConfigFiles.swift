// File system access for the loader: reading a config file with limits, glob(), realpath().
#if canImport(Glibc)
import Glibc
#endif
import SocketServer

enum ConfigFiles {
    /// The largest config file accepted, in bytes.
    static let maximumFileSize = 4 * 1024 * 1024

    /// The file's bytes, or a message saying why it cannot be used (`trust` says whose files and
    /// directories are read).
    static func read(_ path: String, trust: ConfigTrust) -> Result<[UInt8], ReadFailure> {
        if path.utf8.contains(0) { return .failure(ReadFailure("cannot read \(ConfigText.quoted(path)): path contains a NUL byte")) }
        // O_NONBLOCK: opening a FIFO must not hang; only regular files are read.
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
        guard fd >= 0 else { return .failure(.errno("cannot read \(path)", Glibc.errno, path: path)) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { return .failure(.errno("cannot read \(path)", Glibc.errno)) }
        switch info.st_mode & S_IFMT {
        case S_IFREG: break
        case S_IFDIR: return .failure(ReadFailure("cannot read \(path): it is a directory"))
        default: return .failure(ReadFailure("cannot read \(path): not a regular file"))
        }
        if let problem = trust.problem(file: path, info) { return .failure(ReadFailure(problem)) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count: Int
            do {
                count = try retryingOnInterrupt { chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) } }
            } catch {
                return .failure(.errno("cannot read \(path)", error.rawValue))
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
        /// The path that does not exist, when that is the failure (an include shows where it looked).
        var missing: String? = nil
        init(_ message: String, missing: String? = nil) {
            self.message = message
            self.missing = missing
        }
        static func errno(_ what: String, _ code: Int32, path: String? = nil) -> ReadFailure {
            ReadFailure("\(what): \(String(cString: strerror(code)))", missing: code == ENOENT ? path : nil)
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

    /// The directory a glob pattern lists: its leading components without glob metacharacters
    /// (escapes removed), never the last one. "/etc/x" for "/etc/x/*.conf", "." for "*.conf".
    static func literalDirectory(ofPattern pattern: String) -> String {
        var components = pattern.split(separator: "/", omittingEmptySubsequences: false).dropLast()
        if let magic = components.firstIndex(where: hasUnescapedMetacharacter) { components = components[..<magic] }
        let literal = components.map(unescapeGlob).joined(separator: "/")
        if literal.isEmpty { return pattern.hasPrefix("/") ? "/" : "." }
        return literal
    }

    private static func hasUnescapedMetacharacter(_ component: Substring) -> Bool {
        var escaped = false
        for character in component {
            if escaped { escaped = false; continue }
            if character == "\\" { escaped = true; continue }
            if character == "*" || character == "?" || character == "[" { return true }
        }
        return false
    }

    private static func unescapeGlob(_ component: Substring) -> String {
        var text = ""
        var escaped = false
        for character in component {
            if !escaped && character == "\\" { escaped = true; continue }
            escaped = false
            text.append(character)
        }
        return text
    }

    /// `path` made absolute against the working directory (for messages: where a file was looked for).
    static func absolute(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        guard getcwd(&buffer, buffer.count) != nil else { return path }
        let cwd = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        var relative = Substring(path)
        while relative.hasPrefix("./") { relative = relative.dropFirst(2) }
        if relative.isEmpty || relative == "." { return cwd }
        return cwd == "/" ? "/" + relative : cwd + "/" + relative
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
