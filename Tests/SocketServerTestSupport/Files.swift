// Temporary directories and the small file chores of tests: writing configs and scripts with the
// modes the daemon insists on, reading files (also /proc ones) to their end, removing trees.
import Glibc
import SocketServer

/// A fresh directory under /tmp (short, so Unix socket paths in it fit), named `prefix-XXXXXX`.
public func makeTemporaryDirectory(_ prefix: String = "ssd") throws -> String {
    var template = Array("/tmp/\(prefix)-XXXXXX".utf8CString)
    guard let made = mkdtemp(&template) else { throw SocketError.system(call: "mkdtemp /tmp/\(prefix)-XXXXXX", errno: errno) }
    return String(cString: made)
}

/// A fresh temporary directory, removed with its contents when the value goes away.
public final class TemporaryDirectory {
    public let path: String

    public init(_ prefix: String = "sst") throws {
        path = try makeTemporaryDirectory(prefix)
    }

    public func file(_ name: String) -> String { path + "/" + name }

    deinit { removeTree(path) }
}

/// Removes a file or a directory tree (like `rm -rf`).
public func removeTree(_ path: String) {
    var info = stat()
    guard lstat(path, &info) == 0 else { return }
    guard (info.st_mode & S_IFMT) == S_IFDIR else { unlink(path); return }
    directoryEntries(path).forEach { removeTree(path + "/" + $0) }
    rmdir(path)
}

/// True if something (even a dangling link) is at `path`.
public func fileExists(_ path: String) -> Bool {
    var info = stat()
    return lstat(path, &info) == 0
}

/// The names in a directory, dot files included ("." and ".." not), sorted; empty if unreadable.
public func directoryEntries(_ path: String) -> [String] {
    guard let dir = opendir(path) else { return [] }
    defer { closedir(dir) }
    var names: [String] = []
    while let entry = readdir(dir) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        if name != ".", name != ".." { names.append(name) }
    }
    return names.sorted()
}

/// A file's bytes, read to the end by hand (a /proc file reports size 0, and one read may not
/// bring it all); nil if it cannot be opened.
public func readBytes(_ path: String) -> [UInt8]? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let count = read(fd, &buffer, buffer.count)
        if count < 0, errno == EINTR { continue }
        if count <= 0 { break }
        bytes += buffer[..<count]
    }
    return bytes
}

/// A file's text, or nil if it cannot be opened.
public func readFile(_ path: String) -> String? {
    readBytes(path).map { String(decoding: $0, as: UTF8.self) }
}

/// A file's text, or "" if it cannot be opened (a log not written yet).
public func readText(_ path: String) -> String { readFile(path) ?? "" }

/// Writes `text` to `path` with `mode` whatever the umask, and returns the path.
@discardableResult
public func writeFile(_ text: String, to path: String, mode: mode_t) -> String {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
    if fd >= 0 {
        var rest = Array(text.utf8)[...]
        while !rest.isEmpty {
            let written = rest.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if written < 0, errno == EINTR { continue }
            if written <= 0 { break }
            rest = rest.dropFirst(written)
        }
        close(fd)
    }
    chmod(path, mode)
    return path
}

/// A config file: mode 0644 (the daemon refuses one that group or others could change).
@discardableResult
public func writeConfig(_ text: String, to path: String) -> String {
    writeFile(text, to: path, mode: 0o644)
}

/// An executable script (mode 0755).
@discardableResult
public func writeScript(_ text: String, to path: String) -> String {
    writeFile(text, to: path, mode: 0o755)
}

/// `path` without symbolic links or doubled slashes (as the daemon reports paths), or `path`.
public func realPath(_ path: String) -> String {
    guard let real = realpath(path, nil) else { return path }
    defer { free(real) }
    return String(cString: real)
}

/// The checkout's root: the directory holding Tests/ (and Package.swift).
public let repositoryRoot: String = {
    var path = #filePath
    while let slash = path.lastIndex(of: "/") {
        path = String(path[..<slash])
        if path.hasSuffix("/Tests") { return String(path.dropLast("/Tests".count)) }
    }
    return "."
}()
