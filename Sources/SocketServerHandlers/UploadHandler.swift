// upload: the socketserver tutorials' FTP homework protocol, made safe.
#if canImport(Glibc)
import Glibc
#endif
import SocketServer

/// Receives files into the service's `directory`, as the tutorials' `FtpServer` does.
///
/// The protocol, repeated on one connection until the client closes it between two files:
///
/// 1. a 4-byte little-endian signed length N (Python's `struct.pack('<i', N)`; 1…65536),
/// 2. N bytes of a flat JSON object `{"cmd":"put","filename":"a.txt","filesize":123}`,
/// 3. exactly `filesize` bytes of content.
///
/// **Replies (an addition to the tutorials' protocol, whose client never reads):** after each file
/// is stored and durable the server sends `OK <filename> <bytes>\n` (the byte count is the last
/// field; the name may contain spaces). On any refusal it sends `ERR <reason>\n` (one line, control
/// and invisible format characters replaced by `?`), logs the reason at `error` level through the
/// `HandlerHost` (`logProblem`: a bad request, or a failure on the server's side such as a full
/// disk; the daemon writes at most one line of each per 10 s, with a count; stderr when there is
/// no host), and closes the connection after discarding, for at most one second and 1 MiB, what
/// the client was still sending, so that the `ERR` line is not lost to a reset.
/// A client that ignores replies, like the tutorials' own, works unchanged.
///
/// Refused, leaving no file behind: a header length out of range; malformed JSON (see
/// `FlatJSON`); a `cmd` other than `"put"`; a filename that is empty, absolute, contains `/`, `..`,
/// NUL, control characters or invisible format characters (a bidirectional override such as
/// U+202E, a zero-width space: see `isInvisibleFormat`), starts with `.` or is longer than 255
/// bytes; a target that exists as a symlink or as anything but a regular file (a regular file is
/// replaced atomically); a `filesize` that is not a non-negative integer or exceeds `max_size`; a
/// connection that ends inside a length, header or file; a failed write (a full disk), fsync or
/// rename.
///
/// Storage: content goes to an anonymous O_TMPFILE inode in the directory, so a worker killed
/// mid-upload leaves no file behind; when complete it is fsynced and linked as the target
/// (`linkat` through /proc/self/fd; over an existing regular file: linked as `.upload-XXXXXX`, then
/// `renameat` over it, which never follows a symlink), and the directory is fsynced before `OK` is
/// sent. Where O_TMPFILE is unsupported, content goes to `.upload-XXXXXX` created with
/// O_EXCL|O_NOFOLLOW|O_CLOEXEC through a directory descriptor and renamed over the target. On any
/// failure the temporary file is removed. Filenames are checked on their UTF-8 bytes (a `/` with
/// a combining mark after it is still a `/`).
///
/// Idle timeout: a `recv` that times out throws `SocketError.timeout`. The handler removes any
/// partial file, sends `ERR timed out` if it can, and lets the error propagate, so the server logs
/// it and closes the connection.
///
/// Settings (`Settings`): the directory, the largest file, the idle timeout. The daemon builds
/// them from the keys `directory` (required; an existing directory) and `max_size` (bytes,
/// default 104857600), and sets its `timeout` as the connection's; a library user subclasses, as a Python user sets class
/// attributes on a handler class:
///
/// ```swift
/// final class Uploads: UploadStreamHandler {
///     override var settings: UploadStreamHandler.Settings { .init(directory: "/srv/uploads", maxSize: 1 << 20) }
/// }
/// ```
open class UploadStreamHandler: BaseRequestHandler {
    /// `max_size` when the config does not set it: 100 MiB.
    public static let defaultMaxSize = 104_857_600

    /// Where files go and what is accepted. A plain value: build one, or let the daemon build it.
    public struct Settings: Sendable, Equatable {
        /// The directory files are written to (it must exist); empty refuses every upload.
        public var directory: String
        /// The largest file accepted, in bytes.
        public var maxSize: Int
        /// How long the client may stay silent before the connection is closed (`ERR timed out`);
        /// nil leaves the connection's timeout as the server set it.
        public var timeout: Duration?

        public init(directory: String, maxSize: Int = UploadStreamHandler.defaultMaxSize, timeout: Duration? = nil) {
            self.directory = directory
            self.maxSize = maxSize
            self.timeout = timeout
        }

        /// The daemon's settings for a service: `directory` and `max_size` from its keys (already
        /// checked by `validate`); the timeout is left to the connection, which the daemon gives
        /// the service's `timeout`.
        public init(_ configuration: HandlerConfiguration) throws(HandlerSettingsError) {
            let options = configuration.options
            guard let directory = options["directory"], !directory.isEmpty else { throw .init("directory is required") }
            var maxSize = UploadStreamHandler.defaultMaxSize
            if let text = options["max_size"] {
                guard let value = UploadStreamHandler.parseMaxSize(text) else { throw .init("max_size must be a positive integer (bytes), not \"\(text)\"") }
                maxSize = value
            }
            self.init(directory: directory, maxSize: maxSize)
        }
    }

    /// The settings this handler serves with. Override it to configure the handler. The default
    /// is what the server gives (`HandlerHost.handlerSettings`: the daemon's, from the config);
    /// under a server that gives none, the directory is empty and every upload is refused.
    open var settings: Settings { host?.handlerSettings as? Settings ?? Settings(directory: "") }
    /// The largest JSON header accepted.
    public static let maxHeaderSize = 65536

    /// The config keys and their defaults (`directory` is required).
    public static let keys: [String: String?] = ["directory": nil, "max_size": String(defaultMaxSize)]
    public static let keyDocs = [
        "directory": "an existing directory the daemon's user can write; files are written there",
        "max_size": "the largest file accepted, in bytes",
    ]

    /// Checks `directory` (present, an existing directory) and `max_size` (a positive integer).
    public static func validate(_ options: [String: String]) -> [(key: String, problem: String)] {
        var problems: [(key: String, problem: String)] = []
        if let directory = options["directory"] {
            var info = stat()
            if directory.isEmpty {
                problems.append(("directory", "must not be empty"))
            } else if stat(directory, &info) != 0 {
                problems.append(("directory", "\(directory): \(errorText(errno))"))
            } else if info.st_mode & 0o170000 != 0o040000 {
                problems.append(("directory", "\(directory) is not a directory"))
            } else if access(directory, W_OK | X_OK) != 0 {
                problems.append(("directory", "\(directory) is not writable by user \(currentUserName()): \(errorText(errno))"))
            }
        } else {
            problems.append(("directory", "is required"))
        }
        if let text = options["max_size"], parseMaxSize(text) == nil {
            problems.append(("max_size", "must be a positive integer (bytes), not \"\(text)\""))
        }
        return problems
    }

    /// The name of the account this process runs as (the workers' user during a check as root).
    static func currentUserName() -> String {
        guard let entry = getpwuid(geteuid()), let name = entry.pointee.pw_name else { return "uid \(geteuid())" }
        return String(cString: name)
    }

    /// A positive decimal integer, digits only.
    static func parseMaxSize(_ text: String) -> Int? {
        guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let value = Int(text), value > 0 else {
            return nil
        }
        return value
    }

    override public func handle() throws {
        let settings = settings
        if let timeout = settings.timeout, request.timeout != timeout { try request.setTimeout(timeout) }
        var input = ConnectionInput(socket: request, capacity: Self.maxHeaderSize)
        var directory: UploadDirectory?
        do {
            while try receiveFile(&input, settings, directory: &directory) {}
        } catch let refusal as UploadRefusal {
            let reason = Self.printable(refusal.reason)
            logProblem(refusal.problem, "upload refused: \(reason)")
            try? request.sendAll("ERR \(reason)\n")
            drain(&input)
        } catch let error as SocketError {
            if case .timeout = error { try? request.sendAll("ERR timed out\n") }
            throw error
        }
    }

    /// Receives one file; false when the client closed the connection between files.
    private func receiveFile(_ input: inout ConnectionInput, _ settings: Settings, directory: inout UploadDirectory?) throws -> Bool {
        guard try input.fill(atLeast: 4) else {
            if input.buffered == 0 { return false }
            throw UploadRefusal("connection closed inside the header length")
        }
        let length = Int(input.takeInt32LittleEndian())
        guard (1...Self.maxHeaderSize).contains(length) else {
            throw UploadRefusal("header length \(length) is out of range 1-\(Self.maxHeaderSize)")
        }
        guard try input.fill(atLeast: length) else { throw UploadRefusal("connection closed inside the header") }
        let header: [String: FlatJSONValue]
        do {
            header = try FlatJSON.parseObject(input.take(length))
        } catch {
            throw UploadRefusal("malformed header: \(error)")
        }
        let (filename, filesize) = try Self.parsePut(header, maxSize: settings.maxSize)
        guard !settings.directory.isEmpty else { throw UploadRefusal("no upload directory is configured", .failed) }
        let target = try directory ?? UploadDirectory(path: settings.directory)
        directory = target
        try target.checkTarget(filename)
        let file = try target.createTemporary()
        defer { file.discard() }
        var received = 0
        while received < filesize {
            let count = try input.consume(upTo: filesize - received) { (chunk) throws(UploadRefusal) in try file.write(chunk) }
            if count == 0 { throw UploadRefusal("connection closed after \(received) of \(filesize) bytes") }
            received += count
        }
        try file.commit(as: filename)
        log(.info, "upload: stored \(filename) (\(filesize) bytes) in \(target.path)")
        try request.sendAll("OK \(filename) \(filesize)\n")
        return true
    }

    /// The `put` command's filename and size, checked.
    static func parsePut(_ header: [String: FlatJSONValue], maxSize: Int) throws(UploadRefusal) -> (String, Int) {
        guard let cmd = header["cmd"] else { throw UploadRefusal("missing cmd") }
        guard cmd == .string("put") else {
            throw UploadRefusal("unknown cmd \(cmd.string.map { "\"\($0)\"" } ?? "(not a string)")")
        }
        guard let value = header["filename"] else { throw UploadRefusal("missing filename") }
        guard let filename = value.string else { throw UploadRefusal("filename must be a string") }
        if let problem = uploadNameProblem(filename) { throw UploadRefusal("invalid filename: \(problem)") }
        guard let size = header["filesize"] else { throw UploadRefusal("missing filesize") }
        guard let filesize = size.integer, filesize >= 0 else {
            throw UploadRefusal("filesize must be a non-negative integer")
        }
        guard filesize <= maxSize else {
            throw UploadRefusal("filesize \(filesize) is over the limit of \(maxSize) bytes")
        }
        return (filename, filesize)
    }

    /// After a refusal: half-close, then read and drop what the client is still sending (at most
    /// 1 MiB, for at most a second), so that closing does not reset the connection under the ERR line.
    private func drain(_ input: inout ConnectionInput) {
        try? request.shutdown(.write)
        let deadline = ContinuousClock.now.advanced(by: .seconds(1))
        var dropped = 0
        while dropped < 1 << 20 {
            let left = ContinuousClock.now.duration(to: deadline)
            guard left > .zero, (try? request.setTimeout(left)) != nil else { return }
            guard let count = try? input.consume(upTo: Int.max, { _ in }), count > 0 else { return }
            dropped += count
        }
    }

    /// A reason as one printable line of reasonable length: control and invisible format
    /// characters (which the client may have sent, in a `cmd`) become `?`, so that neither the
    /// reply nor the log line shows other text than it holds.
    static func printable(_ reason: String) -> String {
        var scalars = String.UnicodeScalarView()
        for scalar in reason.unicodeScalars.prefix(300) {
            let hidden = scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) || isInvisibleFormat(scalar)
            scalars.append(hidden ? "?" : scalar)
        }
        return String(scalars)
    }
}

/// The connection's input through one fixed buffer, reused for every header and every file.
struct ConnectionInput {
    private let socket: Socket
    private var buffer: [UInt8]
    private var start = 0
    private var end = 0

    init(socket: Socket, capacity: Int) {
        self.socket = socket
        self.buffer = [UInt8](repeating: 0, count: capacity)
    }

    /// Bytes received and not yet taken.
    var buffered: Int { end - start }

    /// Receives until at least `count` (at most the capacity) bytes are buffered; false if the
    /// connection ended first (what did arrive stays buffered).
    mutating func fill(atLeast count: Int) throws -> Bool {
        precondition(count <= buffer.count, "fill(atLeast:) beyond the buffer's capacity")
        if buffered >= count { return true }
        if buffer.count - start < count {
            buffer.withUnsafeMutableBytes { raw in
                raw.baseAddress!.copyMemory(from: raw.baseAddress! + start, byteCount: end - start)
            }
            end -= start
            start = 0
        }
        while buffered < count {
            let socket = socket
            let end = end
            let received = try buffer.withUnsafeMutableBytes { raw in
                try socket.recv(into: UnsafeMutableRawBufferPointer(rebasing: raw[end...]))
            }
            if received == 0 { return false }
            self.end += received
        }
        return true
    }

    /// Takes 4 buffered bytes as a little-endian Int32.
    mutating func takeInt32LittleEndian() -> Int32 {
        var value: UInt32 = 0
        for offset in 0..<4 { value |= UInt32(buffer[start + offset]) << (8 * offset) }
        start += 4
        return Int32(bitPattern: value)
    }

    /// Takes `count` buffered bytes.
    mutating func take(_ count: Int) -> [UInt8] {
        defer { start += count }
        return Array(buffer[start..<(start + count)])
    }

    /// Hands `body` up to `maximum` bytes (buffered ones first, else one `recv`) and returns how
    /// many were consumed; 0 means the connection ended.
    mutating func consume<E: Error>(
        upTo maximum: Int, _ body: (UnsafeRawBufferPointer) throws(E) -> Void
    ) throws -> Int {
        if buffered == 0 {
            start = 0
            let socket = socket
            end = try buffer.withUnsafeMutableBytes { try socket.recv(into: $0) }
            if end == 0 { return 0 }
        }
        let count = min(maximum, buffered)
        let start = start
        try buffer.withUnsafeBytes { raw in try body(UnsafeRawBufferPointer(rebasing: raw[start..<(start + count)])) }
        self.start += count
        return count
    }
}
