// Shared memory the master makes for the processes it forks: a sealed memfd mapped MAP_SHARED.
#if canImport(Glibc)
import Glibc
#endif
import CSocketServerShims
import SocketServer

/// One MAP_SHARED mapping of a memfd sealed at its size (a process that inherits the descriptor
/// cannot shrink it under the readers' feet). Made by the master, inherited by its children across
/// fork, handed to the next image by a binary upgrade (`adopt`); unmapped and closed at deinit.
final class SharedMemory: @unchecked Sendable {
    let base: UnsafeMutableRawPointer
    let size: Int
    /// The memfd (close-on-exec; an upgrade clears that for the exec).
    let descriptor: Int32

    private init(base: UnsafeMutableRawPointer, size: Int, descriptor: Int32) {
        self.base = base
        self.size = size
        self.descriptor = descriptor
    }

    /// New zeroed memory of `size` bytes, named `name` in /proc/PID/fd.
    static func create(name: String, size: Int) throws(DaemonError) -> SharedMemory {
        let fd = cssd_sealed_memfd(name, size)
        guard fd >= 0 else { throw .system("memfd_create", errno) }
        guard let memory = adopt(fd, size: size) else {
            let error = errno
            close(fd)
            throw .system("mmap", error)
        }
        return memory
    }

    /// Maps memory another process made (the previous image, on an upgrade); nil if it cannot.
    static func adopt(_ descriptor: Int32, size: Int) -> SharedMemory? {
        let memory = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, descriptor, 0)
        guard let memory, memory != MAP_FAILED else { return nil }
        setCloseOnExec(descriptor, true)
        return SharedMemory(base: memory, size: size, descriptor: descriptor)
    }

    /// The Int64 at byte `offset`, for the atomics.
    func int64(at offset: Int) -> UnsafeMutablePointer<Int64> { (base + offset).assumingMemoryBound(to: Int64.self) }

    deinit {
        munmap(base, size)
        close(descriptor)
    }
}
