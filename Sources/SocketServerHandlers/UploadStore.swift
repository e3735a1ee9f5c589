// The filesystem side of upload: safe names, a temporary file beside the target, fsync and rename.
#if canImport(Glibc)
import Glibc
#endif

/// Why an upload was refused; `reason` is sent to the client after `ERR `.
struct UploadRefusal: Error {
    let reason: String
    init(_ reason: String) { self.reason = reason }
}

/// A file name an upload may create: one plain component of at most 255 bytes, not empty, not
/// starting with `.`, without `/`, `..`, NUL or control characters (C0, DEL, C1). Returns the
/// problem, or nil when the name is acceptable.
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
    }
    return nil
}

/// An open upload directory. Every file operation is relative to its descriptor (`openat`,
/// `renameat`, …), with O_NOFOLLOW and O_EXCL, so nothing outside the directory is touched.
final class UploadDirectory {
    let path: String
    private let fd: Int32

    init(path: String) throws(UploadRefusal) {
        let fd = Glibc.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw UploadRefusal("cannot open upload directory: \(errorText(errno))") }
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
            throw UploadRefusal("cannot check target: \(errorText(errno))")
        }
        switch info.st_mode & 0o170000 {
        case 0o100000: return
        case 0o120000: throw UploadRefusal("target exists as a symlink")
        default: throw UploadRefusal("target exists and is not a regular file")
        }
    }

    /// Creates `.upload-XXXXXX` (random, O_EXCL|O_NOFOLLOW|O_CLOEXEC, mode 0644 less the umask).
    func createTemporary() throws(UploadRefusal) -> UploadFile {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789".utf8)
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<100 {
            let suffix = (0..<6).map { _ in alphabet[Int(generator.next(upperBound: UInt(alphabet.count)))] }
            let name = ".upload-" + String(decoding: suffix, as: UTF8.self)
            let file = openat(fd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
            if file >= 0 { return UploadFile(directory: self, name: name, fd: file) }
            if errno != EEXIST { throw UploadRefusal("cannot create temporary file: \(errorText(errno))") }
        }
        throw UploadRefusal("cannot create temporary file: too many name collisions")
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

/// A temporary file being written. Unless `commit(as:)` succeeds, `discard()` (or deinit) closes
/// and removes it, so a failed upload leaves nothing behind.
final class UploadFile {
    private let directory: UploadDirectory
    let name: String
    private var fd: Int32
    /// True once the file was renamed into place or removed.
    private var settled = false

    init(directory: UploadDirectory, name: String, fd: Int32) {
        self.directory = directory
        self.name = name
        self.fd = fd
    }

    deinit { discard() }

    /// Writes all of `bytes`; a short or failed write (a full disk, EFBIG, EIO) is a refusal.
    func write(_ bytes: UnsafeRawBufferPointer) throws(UploadRefusal) {
        var offset = 0
        while offset < bytes.count {
            let written = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if written > 0 { offset += written; continue }
            if written < 0, errno == EINTR { continue }
            throw UploadRefusal("write failed: \(errorText(written == 0 ? ENOSPC : errno))")
        }
    }

    /// fsync and close the file, check the target again, rename into place, fsync the directory.
    func commit(as target: String) throws(UploadRefusal) {
        guard fsync(fd) == 0 else { throw UploadRefusal("fsync failed: \(errorText(errno))") }
        let closed = Glibc.close(fd)
        fd = -1
        guard closed == 0 else { throw UploadRefusal("close failed: \(errorText(errno))") }
        try directory.checkTarget(target)
        let renameError = directory.rename(name, to: target)
        guard renameError == 0 else { throw UploadRefusal("rename failed: \(errorText(renameError))") }
        settled = true
        let syncError = directory.sync()
        guard syncError == 0 else {
            // Not known to be durable: take the file back rather than report a half success.
            directory.remove(target)
            throw UploadRefusal("directory fsync failed: \(errorText(syncError))")
        }
    }

    /// Closes and removes the temporary file, unless it was committed. Safe to call twice.
    func discard() {
        if fd >= 0 {
            Glibc.close(fd)
            fd = -1
        }
        if !settled {
            directory.remove(name)
            settled = true
        }
    }
}
