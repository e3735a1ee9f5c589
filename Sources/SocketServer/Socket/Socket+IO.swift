// Sending and receiving: recv, recvFrom, send, sendAll, sendTo, sendFile.
#if canImport(Glibc)
import Glibc
#endif

extension Socket {
    /// Receives up to `maximum` bytes; an empty result means the peer closed the connection.
    public func recv(_ maximum: Int, flags: Int32 = 0) throws(SocketError) -> [UInt8] {
        guard maximum > 0 else { return [] }
        var buffer = [UInt8](repeating: 0, count: maximum)
        var outcome: Result<Int, SocketError> = .success(0)
        buffer.withUnsafeMutableBytes { raw in outcome = Result { () throws(SocketError) in try recv(into: raw, flags: flags) } }
        buffer.removeSubrange(try outcome.get()...)
        return buffer
    }

    /// Receives into caller-owned memory and returns the byte count (Python's `recv_into`).
    ///
    /// With a timeout, a read that came back short (the socket was drained) makes the next one wait
    /// for data before reading: in request/response traffic the next read would otherwise fail with
    /// EAGAIN first, one system call more per request (a persistent echo makes 3 per request, not 4).
    public func recv(into buffer: UnsafeMutableRawBufferPointer, flags: Int32 = 0) throws(SocketError) -> Int {
        let fd = try fd("recv")
        let count = try waiting("recv", for: .read, pollFirst: readDrained.load(ordering: .relaxed)) {
            Glibc.recv(fd, buffer.baseAddress, buffer.count, flags)
        }
        readDrained.store(count < buffer.count, ordering: .relaxed)
        if count == 0 && buffer.count > 0 && type == .stream { peerEnded.store(true, ordering: .relaxed) }
        countReceived(count)
        return count
    }

    /// Receives one datagram of at most `maximum` bytes and its sender (Python's `recvfrom`).
    public func recvFrom(_ maximum: Int, flags: Int32 = 0) throws(SocketError) -> ([UInt8], SocketAddress) {
        try recvFrom(maximum, flags: flags, once: false)
    }

    /// Receives a datagram if one is waiting, else returns nil at once, whatever the timeout.
    public func recvFromIfReady(_ maximum: Int) throws(SocketError) -> ([UInt8], SocketAddress)? {
        do {
            return try recvFrom(maximum, flags: 0, once: true)
        } catch let error where error.errno == EAGAIN || error.errno == EWOULDBLOCK {
            return nil
        }
    }

    private func recvFrom(_ maximum: Int, flags: Int32, once: Bool) throws(SocketError) -> ([UInt8], SocketAddress) {
        let fd = try fd("recvfrom")
        var buffer = [UInt8](repeating: 0, count: max(maximum, 1))
        var outcome: Result<(result: Int, address: SocketAddress?), SocketError> = .success((0, nil))
        buffer.withUnsafeMutableBytes { raw in
            outcome = Result { () throws(SocketError) in
                try SocketAddress.receiving { (addr, length) throws(SocketError) -> Int in
                    try self.waiting("recvfrom", for: .read, once: once) { Glibc.recvfrom(fd, raw.baseAddress, raw.count, flags, addr, length) }
                }
            }
        }
        let (count, address) = try outcome.get()
        countReceived(count)
        buffer.removeSubrange(min(count, maximum)...)
        return (buffer, address ?? .unix(path: ""))
    }

    /// Sends what the kernel takes now and returns the count (may be fewer than `bytes.count`);
    /// `bytes` may be a `String` (its UTF-8).
    @discardableResult
    public func send(_ bytes: some SocketBytes, flags: Int32 = 0) throws(SocketError) -> Int {
        let fd = try fd("send")
        let count = try bytes.withSocketBytes { (raw) throws(SocketError) -> Int in
            try waiting("send", for: .write) { Glibc.send(fd, raw.baseAddress, raw.count, flags | Int32(MSG_NOSIGNAL)) }
        }
        countSent(count)
        return count
    }

    /// Sends every byte (of a `String`: its UTF-8), looping over partial sends (Python's
    /// `sendall`). With a timeout, the timeout bounds the whole call, as in CPython since 3.5, not
    /// each wait for buffer space: a peer reading a byte now and then cannot hold the sender for
    /// ever. The deadline starts when the call first has to wait (everything before went straight
    /// into the socket buffer).
    public func sendAll(_ bytes: some SocketBytes, flags: Int32 = 0) throws(SocketError) {
        let fd = try fd("sendall")
        var deadline = CallDeadline(timeout)
        try bytes.withSocketBytes { (raw) throws(SocketError) in
            var offset = 0
            while offset < raw.count {
                if deadline.expired { throw .timeout(call: "sendall") }
                let count = try waiting("sendall", for: .write, deadline: &deadline) {
                    Glibc.send(fd, raw.baseAddress! + offset, raw.count - offset, flags | Int32(MSG_NOSIGNAL))
                }
                countSent(count)
                offset += count
            }
        }
    }

    /// Sends one datagram to `address` (Python's `sendto`).
    @discardableResult
    public func sendTo(_ bytes: some SocketBytes, _ address: SocketAddress, flags: Int32 = 0) throws(SocketError) -> Int {
        let fd = try fd("sendto")
        let (storage, length) = try address.storage()
        var copy = storage
        let count = try bytes.withSocketBytes { (raw) throws(SocketError) -> Int in
            try withUnsafePointer(to: &copy) { (pointer) throws(SocketError) -> Int in
                try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { (addr) throws(SocketError) -> Int in
                    try waiting("sendto \(address)", for: .write) {
                        Glibc.sendto(fd, raw.baseAddress, raw.count, flags | Int32(MSG_NOSIGNAL), addr, length)
                    }
                }
            }
        }
        countSent(count)
        Socket.addSentToByThisThread(count)
        return count
    }

    /// Sends `count` bytes (or everything to end of file) of an open file from `offset` with
    /// `sendfile(2)`, without copying through user space. Returns the bytes sent.
    @discardableResult
    public func sendFile(_ fileDescriptor: Int32, offset: Int = 0, count: Int? = nil) throws(SocketError) -> Int {
        let fd = try fd("sendfile")
        var total = count
        if total == nil {
            var info = stat()
            guard fstat(fileDescriptor, &info) == 0 else { throw .last("fstat") }
            total = max(0, Int(info.st_size) - offset)
        }
        var position = off_t(offset)
        var sent = 0
        while sent < total! {
            let chunk = try waiting("sendfile", for: .write) { Glibc.sendfile(fd, fileDescriptor, &position, total! - sent) }
            if chunk == 0 { break }  // the file is shorter than asked
            countSent(chunk)
            sent += chunk
        }
        return sent
    }
}

/// Anything whose bytes can be read contiguously: `[UInt8]`, `ArraySlice<UInt8>`, raw buffers, and
/// `String`/`Substring` (sent as UTF-8, as Python's `str.encode()`), so `send`, `sendAll` and
/// `sendTo` take text and bytes alike.
public protocol SocketBytes {
    func withSocketBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R
}

extension Array: SocketBytes where Element == UInt8 {
    public func withSocketBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try withUnsafeBufferPointer { (buffer) throws(E) -> R in try body(UnsafeRawBufferPointer(buffer)) }
    }
}

extension ArraySlice: SocketBytes where Element == UInt8 {
    public func withSocketBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try withUnsafeBufferPointer { (buffer) throws(E) -> R in try body(UnsafeRawBufferPointer(buffer)) }
    }
}

extension UnsafeRawBufferPointer: SocketBytes {
    public func withSocketBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try body(self)
    }
}

extension String: SocketBytes {
    public func withSocketBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        var text = self
        return try text.withUTF8 { (utf8) -> Result<R, E> in
            Result { () throws(E) -> R in try body(UnsafeRawBufferPointer(utf8)) }
        }.get()
    }
}

extension Substring: SocketBytes {
    public func withSocketBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try String(self).withSocketBytes(body)
    }
}
