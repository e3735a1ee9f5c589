// Starting and joining POSIX threads without Foundation.
#if canImport(Glibc)
import Glibc
#endif

/// A started POSIX thread that can be joined once.
public struct PosixThread: Sendable {
    let id: pthread_t

    /// Starts `body` on a new thread. `detached` threads cannot be joined and free themselves.
    @discardableResult
    public static func start(detached: Bool = false, _ body: @escaping @Sendable () -> Void) throws(SocketError) -> PosixThread {
        let box = Unmanaged.passRetained(ThreadBody(body)).toOpaque()
        var id = pthread_t()
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        if detached { pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED)) }
        let code = pthread_create(&id, &attributes, { raw in
            let body = Unmanaged<ThreadBody>.fromOpaque(raw!).takeRetainedValue()
            body.run()
            return nil
        }, box)
        guard code == 0 else {
            Unmanaged<ThreadBody>.fromOpaque(box).release()
            throw .system(call: "pthread_create", errno: code)
        }
        return PosixThread(id: id)
    }

    /// Waits for the thread to finish.
    public func join() {
        pthread_join(id, nil)
    }

    /// Lets the thread free itself when it ends; it can no longer be joined.
    public func detach() {
        pthread_detach(id)
    }
}

private final class ThreadBody {
    let run: @Sendable () -> Void
    init(_ run: @escaping @Sendable () -> Void) { self.run = run }
}

/// Writes a line to standard error without buffering (safe in forked children).
func writeStandardError(_ text: String) {
    var line = text
    if !line.hasSuffix("\n") { line += "\n" }
    var bytes = Array(line.utf8)[...]
    while !bytes.isEmpty {
        let written = bytes.withUnsafeBytes { Glibc.write(2, $0.baseAddress, $0.count) }
        if written < 0 { if errno == EINTR { continue } else { return } }
        bytes = bytes.dropFirst(written)
    }
}
