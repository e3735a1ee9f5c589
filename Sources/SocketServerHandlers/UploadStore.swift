// The filesystem side of upload: safe names, an anonymous (O_TMPFILE) or temporary file beside the
// target, fsync, then link or rename into place.
#if canImport(Glibc)
import Glibc
#endif
import SocketServer

/// Why an upload was refused; `reason` is sent to the client after `ERR `. `problem` tells the
/// client's fault (a bad request) from the server's (a full disk), which are logged as two kinds.
struct UploadRefusal: Error {
    let reason: String
    let problem: RequestProblem
    init(_ reason: String, _ problem: RequestProblem = .badRequest) {
        self.reason = reason
        self.problem = problem
    }
}

/// A file name an upload may create: one plain component of at most 255 bytes, not empty, not
/// starting with `.`, without `/`, `..`, NUL, control characters (C0, DEL, C1) or invisible
/// format characters (see `isInvisibleFormat`). Returns the problem, or nil when the name is
/// acceptable.
///
/// The structural rules are checked on the UTF-8 bytes the kernel will see, never on Characters:
/// a Character is a grapheme cluster, so "/" followed by a combining mark (U+0338) is one Character
/// that is not "/", although its bytes start with 0x2F, which `openat`/`renameat` take as a separator.
func uploadNameProblem(_ name: String) -> String? {
    let bytes = name.utf8
    let slash = UInt8(ascii: "/"), dot = UInt8(ascii: ".")
    if bytes.isEmpty { return "empty filename" }
    if bytes.count > Int(NAME_MAX) { return "filename longer than \(NAME_MAX) bytes" }
    if bytes.first == slash { return "absolute filename" }
    if bytes.contains(slash) { return "filename contains '/'" }
    if bytes.contains(0) { return "filename contains NUL" }
    var previous: UInt8 = 0
    for byte in bytes {
        if byte == dot && previous == dot { return "filename contains '..'" }
        previous = byte
    }
    if bytes.first == dot { return "filename starts with '.'" }
    for scalar in name.unicodeScalars {
        if scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) { return "filename contains a control character" }
        if isInvisibleFormat(scalar) {
            return "filename contains an invisible format character (\(codePoint(scalar)))"
        }
    }
    return nil
}

/// Whether `scalar` changes how text around it is shown without showing itself: Unicode's format
/// characters (general category Cf: the bidirectional overrides, embeddings and isolates
/// U+202A–U+202E and U+2066–U+2069, which make `evil\u{202E}txt.exe` read as `evilexe.txt`; the
/// marks U+200E, U+200F, U+061C; the zero-width U+200B–U+200D, U+2060–U+2064, U+FEFF; the soft
/// hyphen U+00AD; tags U+E0001–U+E007F) and the line and paragraph separators U+2028, U+2029.
/// A name with one shows as another name, in a listing or in the log.
func isInvisibleFormat(_ scalar: Unicode.Scalar) -> Bool {
    switch scalar.properties.generalCategory {
    case .format, .lineSeparator, .paragraphSeparator: return true
    default: return false
    }
}

/// `U+202E`: a scalar's code point as the Unicode standard writes it.
func codePoint(_ scalar: Unicode.Scalar) -> String {
    let hex = String(scalar.value, radix: 16, uppercase: true)
    return "U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
}

/// An open upload directory. Every file operation is relative to its descriptor (`openat`,
/// `renameat`, …), with O_NOFOLLOW and O_EXCL, so nothing outside the directory is touched.
final class UploadDirectory {
    let path: String
    private let fd: Int32

    init(path: String) throws(UploadRefusal) {
        let fd = Glibc.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw UploadRefusal("cannot open upload directory: \(errorText(errno))", .failed) }
        self.path = path
        self.fd = fd
    }

    deinit { Glibc.close(fd) }

    /// Refuses a target that exists as anything but a regular file (a symlink above all);
    /// an existing regular file is replaced atomically by the rename.
    func checkTarget(_ name: String) throws(UploadRefusal) {
        var info = stat()
        guard fstatat(fd, name, &info, AT_SYMLINK_NOFOLLOW) == 0 else {
            if errno == ENOENT { return }
            throw UploadRefusal("cannot check target: \(errorText(errno))", .failed)
        }
        switch info.st_mode & 0o170000 {
        case 0o100000: return
        case 0o120000: throw UploadRefusal("target exists as a symlink")
        default: throw UploadRefusal("target exists and is not a regular file")
        }
    }

    /// Opens the file an upload is written to. Where the kernel and file system allow it, an
    /// anonymous O_TMPFILE inode in the directory: it has no name until `commit(as:)` links it, so a
    /// worker killed mid-upload (SIGKILL, `_exit`) leaves nothing behind. Otherwise (EOPNOTSUPP,
    /// EISDIR on an old kernel, no /proc to link through) a named `.upload-XXXXXX`, which only
    /// `discard()` removes. Mode 0644 less the umask either way.
    func createTemporary() throws(UploadRefusal) -> UploadFile {
        if let anonymous = openAnonymous() { return UploadFile(directory: self, anonymous: anonymous) }
        let created = try createNamed { (name) in openat(fd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644) }
        return UploadFile(directory: self, name: created.name, fd: created.result)
    }

    /// An O_TMPFILE descriptor that can later be linked through /proc/self/fd, or nil.
    private func openAnonymous() -> Int32? {
        guard let flag = oTmpfile else { return nil }
        let file = openat(fd, ".", flag | O_WRONLY | O_CLOEXEC, 0o644)
        guard file >= 0 else { return nil }
        var info = stat()
        guard stat(procPath(file), &info) == 0 else {
            Glibc.close(file)
            return nil
        }
        return file
    }

    /// Runs `create` with fresh `.upload-XXXXXX` names until it succeeds (>= 0) or fails with
    /// anything but EEXIST; returns the name and the result.
    private func createNamed(_ create: (String) -> Int32) throws(UploadRefusal) -> (name: String, result: Int32) {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789".utf8)
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<100 {
            let suffix = (0..<6).map { _ in alphabet[Int(generator.next(upperBound: UInt(alphabet.count)))] }
            let name = ".upload-" + String(decoding: suffix, as: UTF8.self)
            let result = create(name)
            if result >= 0 { return (name, result) }
            if errno != EEXIST { throw UploadRefusal("cannot create temporary file: \(errorText(errno))", .failed) }
        }
        throw UploadRefusal("cannot create temporary file: too many name collisions", .failed)
    }

    /// Gives the anonymous file `file` the name `name` in the directory (`linkat` through
    /// /proc/self/fd, which needs no privilege, unlike AT_EMPTY_PATH). Fails with EEXIST if the name
    /// exists, whatever it is: `linkat` never follows or replaces a symlink at the new name.
    func link(_ file: Int32, as name: String) -> Int32 {
        linkat(AT_FDCWD, procPath(file), fd, name, AT_SYMLINK_FOLLOW) == 0 ? 0 : errno
    }

    /// Links the anonymous file `file` as a fresh `.upload-XXXXXX` and returns that name.
    func linkUnderTemporaryName(_ file: Int32) throws(UploadRefusal) -> String {
        try createNamed { (name) in linkat(AT_FDCWD, procPath(file), fd, name, AT_SYMLINK_FOLLOW) }.name
    }

    /// `renameat` within the directory.
    func rename(_ from: String, to name: String) -> Int32 {
        renameat(fd, from, fd, name) == 0 ? 0 : errno
    }

    /// `unlinkat` within the directory; errors are ignored.
    func remove(_ name: String) {
        _ = unlinkat(fd, name, 0)
    }

    /// Makes the directory's entries durable.
    func sync() -> Int32 {
        fsync(fd) == 0 ? 0 : errno
    }
}

/// The file an upload is written to. Unless `commit(as:)` succeeds, `discard()` (or deinit) closes
/// it and removes whatever name it had, so a failed upload leaves nothing behind.
final class UploadFile {
    private let directory: UploadDirectory
    /// The file's name in the directory while it has one that is not the target: always for a named
    /// temporary file; for an anonymous one only between its link and its rename over an existing target.
    private(set) var name: String?
    /// True for an O_TMPFILE inode (nameless until committed).
    let isAnonymous: Bool
    private var fd: Int32
    /// True once the file was renamed or linked into place, or removed.
    private var settled = false

    init(directory: UploadDirectory, name: String, fd: Int32) {
        self.directory = directory
        self.name = name
        self.fd = fd
        self.isAnonymous = false
    }

    init(directory: UploadDirectory, anonymous fd: Int32) {
        self.directory = directory
        self.name = nil
        self.fd = fd
        self.isAnonymous = true
    }

    deinit { discard() }

    /// Writes all of `bytes`; a short or failed write (a full disk, EFBIG, EIO) is a refusal.
    func write(_ bytes: UnsafeRawBufferPointer) throws(UploadRefusal) {
        do {
            try writeAll(fd, bytes)
        } catch {
            throw UploadRefusal("write failed: \(error)", .failed)
        }
    }

    /// fsync the file, check the target again, put the file in place, fsync the directory. A named
    /// temporary file is renamed over the target. An anonymous one is linked as the target when
    /// that name is free; when it exists (a regular file, checked) the file is linked under a
    /// temporary name and renamed over it, so the replacement stays atomic.
    func commit(as target: String) throws(UploadRefusal) {
        guard fsync(fd) == 0 else { throw UploadRefusal("fsync failed: \(errorText(errno))", .failed) }
        try directory.checkTarget(target)
        var linkedAsTarget = false
        if isAnonymous {
            let file = fd
            let linkError = directory.link(file, as: target)
            if linkError == 0 {
                linkedAsTarget = true
            } else if linkError == EEXIST {
                name = try directory.linkUnderTemporaryName(file)
            } else {
                throw UploadRefusal("link failed: \(errorText(linkError))", .failed)
            }
        }
        let closed = Glibc.close(fd)
        fd = -1
        guard closed == 0 else {
            if linkedAsTarget { directory.remove(target) }
            throw UploadRefusal("close failed: \(errorText(errno))", .failed)
        }
        if !linkedAsTarget, let name {
            try directory.checkTarget(target)
            let renameError = directory.rename(name, to: target)
            guard renameError == 0 else { throw UploadRefusal("rename failed: \(errorText(renameError))", .failed) }
        }
        settled = true
        let syncError = directory.sync()
        guard syncError == 0 else {
            // Not known to be durable: take the file back rather than report a half success.
            directory.remove(target)
            throw UploadRefusal("directory fsync failed: \(errorText(syncError))", .failed)
        }
    }

    /// Closes the file and removes its temporary name, unless it was committed. Safe to call twice.
    func discard() {
        if fd >= 0 {
            Glibc.close(fd)
            fd = -1
        }
        if !settled {
            if let name { directory.remove(name) }
            settled = true
        }
    }
}

/// O_TMPFILE (`__O_TMPFILE | O_DIRECTORY`), which Swift's Glibc module leaves out (it is a GNU
/// extension); nil on architectures where `__O_TMPFILE` has another value, which then use named files.
private let oTmpfile: Int32? = {
    #if os(Linux) && (arch(x86_64) || arch(arm64) || arch(i386) || arch(arm) || arch(riscv64) || arch(powerpc64le) || arch(s390x))
    return 0o20000000 | O_DIRECTORY
    #else
    return nil
    #endif
}()

/// "/proc/self/fd/N": the path through which an anonymous file can be linked.
private func procPath(_ fd: Int32) -> String { "/proc/self/fd/\(fd)" }
