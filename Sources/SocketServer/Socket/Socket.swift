// Socket: a typed, owning wrapper over one socket file descriptor (Python's socket.socket).
#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import CSocketServerShims

/// A socket. It owns its file descriptor: `close()` or deinit closes it, exactly once.
/// Sockets are opened close-on-exec, calls interrupted by signals are retried, and sends never raise
/// SIGPIPE. With `setTimeout(_:)` every blocking call waits at most that long and then throws
/// `SocketError.timeout`; with no timeout (the default) calls block.
public final class Socket: @unchecked Sendable, CustomStringConvertible {
    public let family: AddressFamily
    public let type: SocketType
    private let descriptor: Atomic<Int32>
    let timeoutState = Mutex<Duration?>(nil)
    /// The kernel's wait limit for blocking calls (`setIdleTimeout`), in nanoseconds; 0: none.
    let idleNanoseconds = Atomic<Int64>(0)
    /// Whether the descriptor has O_NONBLOCK (set through this socket, or accepted so).
    let nonBlockingDescriptor: Atomic<Bool>
    /// The last `recv(into:)` came back short: the next one polls before reading (see there).
    let readDrained = Atomic<Bool>(false)
    /// The peer has closed its side (a receive read end of file) and nothing is left to send:
    /// close alone sends the end, and `shutdownRequest` skips its shutdown (a system call fewer
    /// per connection). Set by `recv(into:)` and by the event loop.
    let peerEnded = Atomic<Bool>(false)
    /// Bytes received and sent (see Socket+Traffic.swift).
    let received = Atomic<UInt64>(0)
    let sent = Atomic<UInt64>(0)

    /// Opens a new socket (`socket(2)` with SOCK_CLOEXEC).
    public init(family: AddressFamily = .inet, type: SocketType = .stream, protocol proto: Int32 = 0) throws(SocketError) {
        Socket.ignoreSIGPIPE
        let fd = Glibc.socket(family.rawValue, type.rawValue | Int32(SOCK_CLOEXEC.rawValue), proto)
        guard fd >= 0 else { throw .last("socket") }
        self.family = family
        self.type = type
        self.descriptor = Atomic(fd)
        self.nonBlockingDescriptor = Atomic(false)
    }

    /// Adopts an open socket descriptor (for example one inherited from a parent process).
    /// Its family and type are read from the kernel; the socket now owns and will close it.
    public init(adopting fd: Int32) throws(SocketError) {
        Socket.ignoreSIGPIPE
        func intOption(_ name: Int32) throws(SocketError) -> Int32 {
            var value: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            guard getsockopt(fd, SOL_SOCKET, name, &value, &length) == 0 else { throw .last("getsockopt") }
            return value
        }
        self.family = AddressFamily(rawValue: try intOption(SO_DOMAIN))
        self.type = SocketType(rawValue: try intOption(SO_TYPE))
        self.descriptor = Atomic(fd)
        self.nonBlockingDescriptor = Atomic(fcntl(fd, F_GETFL) & O_NONBLOCK != 0)
        _ = fcntl(fd, F_SETFD, fcntl(fd, F_GETFD) | FD_CLOEXEC)
    }

    init(acceptedFD fd: Int32, family: AddressFamily, type: SocketType, nonBlocking: Bool = false) {
        self.family = family
        self.type = type
        self.descriptor = Atomic(fd)
        self.nonBlockingDescriptor = Atomic(nonBlocking)
    }

    /// A connected pair of Unix sockets (`socketpair(2)`).
    public static func pair(type: SocketType = .stream) throws(SocketError) -> (Socket, Socket) {
        ignoreSIGPIPE
        var fds: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, type.rawValue | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0 else {
            throw .last("socketpair")
        }
        return (Socket(acceptedFD: fds[0], family: .unix, type: type), Socket(acceptedFD: fds[1], family: .unix, type: type))
    }

    deinit {
        let fd = descriptor.load(ordering: .acquiring)
        if fd >= 0 { Glibc.close(fd) }
    }

    /// The file descriptor, or -1 once closed (Python's `fileno()`).
    public func fileno() -> Int32 { descriptor.load(ordering: .acquiring) }

    /// True until `close()` or `detach()`.
    public var isOpen: Bool { fileno() >= 0 }

    /// Closes the socket. Closing twice is harmless.
    public func close() {
        let fd = descriptor.exchange(-1, ordering: .acquiringAndReleasing)
        if fd >= 0 { Glibc.close(fd) }
    }

    /// Gives up ownership: returns the descriptor, which the socket will no longer close.
    public func detach() -> Int32 { descriptor.exchange(-1, ordering: .acquiringAndReleasing) }

    /// The descriptor for a call named `call`, or `.closed` when the socket is closed.
    func fd(_ call: String) throws(SocketError) -> Int32 {
        let fd = fileno()
        guard fd >= 0 else { throw .closed(call: call) }
        return fd
    }

    public var description: String {
        "Socket(fd: \(fileno()), \(family), \(type))"
    }

    /// Writing to a peer that has gone must be an error, not process death.
    private static let ignoreSIGPIPE: Void = { signal(SIGPIPE, SIG_IGN) }()
}

// MARK: - Binding, listening, connecting

extension Socket {
    /// Binds to `address` (`bind(2)`).
    public func bind(_ address: SocketAddress) throws(SocketError) {
        let fd = try fd("bind")
        let result = try address.withSockAddr { Glibc.bind(fd, $0, $1) }
        guard result == 0 else { throw .last("bind \(address)") }
    }

    /// Marks the socket as accepting connections with a queue of `backlog` (`listen(2)`).
    public func listen(_ backlog: Int32 = 128) throws(SocketError) {
        let fd = try fd("listen")
        guard Glibc.listen(fd, backlog) == 0 else { throw .last("listen") }
    }

    /// Accepts a connection (`accept4(2)`, close-on-exec): the connected socket and the peer's address.
    public func accept() throws(SocketError) -> (Socket, SocketAddress) {
        let fd = try fd("accept")
        let (client, address) = try SocketAddress.receiving { (addr, length) throws(SocketError) -> Int in
            Int(try self.waiting("accept", for: .read) { Int(cssd_accept_cloexec(fd, addr, length)) })
        }
        let socket = Socket(acceptedFD: Int32(client), family: family, type: type)
        return (socket, address ?? .unix(path: ""))
    }

    /// Accepts a connection if one is waiting, else returns nil at once, whatever the timeout.
    /// Servers use this on a listening socket that several processes share. With `nonBlocking`,
    /// the connection's descriptor comes non-blocking (`SOCK_NONBLOCK`, for an event loop); its
    /// timeout is nil all the same, so its own calls still block, by polling.
    public func acceptIfReady(nonBlocking: Bool = false) throws(SocketError) -> (Socket, SocketAddress)? {
        let fd = try fd("accept")
        var wouldBlock = false
        let (client, address) = try SocketAddress.receiving { (addr, length) throws(SocketError) -> Int in
            while true {
                do throws(Errno) {
                    return Int(try retryingOnInterrupt {
                        nonBlocking ? cssd_accept_nonblock(fd, addr, length) : cssd_accept_cloexec(fd, addr, length)
                    })
                } catch let error where error.rawValue == ECONNABORTED {
                    continue  // the client gave up before we accepted: take the next one
                } catch .wouldBlock {
                    wouldBlock = true
                    length.pointee = 0
                    return -1
                } catch {
                    throw .system(call: "accept", errno: error.rawValue)
                }
            }
        }
        if wouldBlock { return nil }
        return (Socket(acceptedFD: Int32(client), family: family, type: type, nonBlocking: nonBlocking), address ?? .unix(path: ""))
    }

    /// Connects to `address` (`connect(2)`), honouring the timeout.
    public func connect(_ address: SocketAddress) throws(SocketError) {
        let code = try connectEx(address)
        if code == ETIMEDOUT, timeout != nil { throw .timeout(call: "connect \(address)") }
        guard code == 0 else { throw .system(call: "connect \(address)", errno: code) }
    }

    /// Connects and returns 0 or the errno instead of throwing (Python's `connect_ex`).
    /// Only an unusable address or a closed socket throws.
    public func connectEx(_ address: SocketAddress) throws(SocketError) -> Int32 {
        let fd = try fd("connect")
        let (storage, length) = try address.storage()
        var copy = storage
        let result = withUnsafePointer(to: &copy) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, length) }
        }
        if result == 0 { return 0 }
        let code = Glibc.errno
        guard code == EINPROGRESS || code == EINTR else { return code }
        // Non-blocking or interrupted: wait for writability, then read the outcome from SO_ERROR.
        if timeout == .zero { return code }
        do {
            try waitUntilReady(.write, deadline: deadline(), call: "connect")
        } catch {
            return ETIMEDOUT
        }
        return (try? getOption(.error)) ?? code
    }

    /// Shuts down one or both directions of a connection (`shutdown(2)`).
    public func shutdown(_ how: ShutdownHow) throws(SocketError) {
        let fd = try fd("shutdown")
        guard Glibc.shutdown(fd, how.rawValue) == 0 else { throw .last("shutdown") }
    }

    /// The address this socket is bound to (`getsockname(2)`).
    public func getSockName() throws(SocketError) -> SocketAddress {
        let fd = try fd("getsockname")
        let (_, address) = try SocketAddress.receiving { (addr, length) throws(SocketError) -> Int in
            Int(try retryingOnInterrupt("getsockname") { getsockname(fd, addr, length) })
        }
        return address ?? .unix(path: "")
    }

    /// The address of the connected peer (`getpeername(2)`).
    public func getPeerName() throws(SocketError) -> SocketAddress {
        let fd = try fd("getpeername")
        let (_, address) = try SocketAddress.receiving { (addr, length) throws(SocketError) -> Int in
            Int(try retryingOnInterrupt("getpeername") { getpeername(fd, addr, length) })
        }
        return address ?? .unix(path: "")
    }

    /// Sets an integer socket option (`setsockopt(2)`).
    public func setOption(_ option: SocketOption, _ value: Int32) throws(SocketError) {
        let fd = try fd("setsockopt")
        var value = value
        guard setsockopt(fd, option.level, option.name, &value, socklen_t(MemoryLayout<Int32>.size)) == 0 else {
            throw .last("setsockopt")
        }
    }

    /// Sets a boolean socket option.
    public func setOption(_ option: SocketOption, _ value: Bool) throws(SocketError) {
        try setOption(option, value ? 1 : 0)
    }

    /// Reads an integer socket option (`getsockopt(2)`).
    public func getOption(_ option: SocketOption) throws(SocketError) -> Int32 {
        let fd = try fd("getsockopt")
        var value: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, option.level, option.name, &value, &length) == 0 else { throw .last("getsockopt") }
        return value
    }
}
