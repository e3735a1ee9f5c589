// What /proc tells about descriptors and sockets: a process's open files and socket inodes, the
// kernel's TCP and UDP tables.
import Glibc

/// Where each of process `pid`'s descriptors points (this process by default), without the
/// descriptor used to list them.
public func openDescriptors(of pid: pid_t? = nil) -> [Int32: String] {
    let directory = pid.map { "/proc/\($0)/fd" } ?? "/proc/self/fd"
    var result: [Int32: String] = [:]
    for name in directoryEntries(directory) {
        guard let fd = Int32(name), let target = linkTarget(directory + "/" + name) else { continue }
        if target.hasPrefix("/proc/") && target.hasSuffix("/fd") { continue }
        result[fd] = target
    }
    return result
}

/// How many descriptors process `pid` has open.
public func descriptorCount(_ pid: pid_t) -> Int { directoryEntries("/proc/\(pid)/fd").count }

/// What a symbolic link points to, or nil (gone, or not a link).
public func linkTarget(_ path: String) -> String? {
    var buffer = [CChar](repeating: 0, count: 4096)
    let count = readlink(path, &buffer, buffer.count - 1)
    guard count >= 0 else { return nil }
    return String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// The inodes of process `pid`'s sockets (its fd links read `socket:[INODE]`).
public func socketInodes(of pid: pid_t) -> Set<String> {
    Set(openDescriptors(of: pid).values.compactMap { link in
        link.hasPrefix("socket:[") ? String(link.dropFirst("socket:[".count).dropLast()) : nil
    })
}

/// One row of /proc/net/tcp or tcp6: state (hex, 0A = LISTEN, 01 = ESTABLISHED), local port, inode.
public struct TCPSocketRow: Equatable, CustomStringConvertible {
    public let state: String
    public let localPort: Int
    public let inode: String
    public var description: String { "\(state):\(localPort):\(inode)" }
}

/// Every TCP socket of the system, IPv4 and IPv6.
public func tcpSockets() -> [TCPSocketRow] {
    ["/proc/net/tcp", "/proc/net/tcp6"].flatMap { path in
        readText(path).split(separator: "\n").dropFirst().compactMap { line -> TCPSocketRow? in
            let fields = line.split(separator: " ")
            guard fields.count > 9, let port = fields[1].split(separator: ":").last.flatMap({ Int($0, radix: 16) }) else { return nil }
            return TCPSocketRow(state: String(fields[3]), localPort: port, inode: String(fields[9]))
        }
    }
}

/// The socket inode of the TCP listener on `port`, or nil.
public func listenerInode(port: Int) -> String? {
    tcpSockets().first { $0.state == "0A" && $0.localPort == port }?.inode
}

/// Datagrams the kernel dropped at the UDP socket bound to 127.0.0.1:`port` (its receive buffer
/// was full), from the last column of /proc/net/udp.
public func udpDrops(port: Int) -> Int {
    let hex = String(port, radix: 16, uppercase: true)
    let local = "0100007F:" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
    return readText("/proc/net/udp").split(separator: "\n").reduce(0) { sum, row in
        let fields = row.split(separator: " ")
        guard fields.count > 2, fields[1] == local, let drops = Int(fields[fields.count - 1]) else { return sum }
        return sum + drops
    }
}
