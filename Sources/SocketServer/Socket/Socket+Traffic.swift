// What a socket carried: bytes received and sent, per socket and per thread.
#if canImport(Glibc)
import Glibc
#endif

/// The thread-specific key under which `sendTo` adds up what the thread sent (the count is the
/// value's bits: no memory per thread).
private let sentToKey: pthread_key_t = {
    var key = pthread_key_t()
    pthread_key_create(&key, nil)
    return key
}()

extension Socket {
    /// Bytes received through this socket so far: by its receive calls, and by an event loop
    /// serving it (EventLoopMixIn). What a program given the descriptor moves itself is not seen.
    public var bytesReceived: UInt64 { received.load(ordering: .relaxed) }

    /// Bytes sent through this socket so far, counted as `bytesReceived` is.
    public var bytesSent: UInt64 { sent.load(ordering: .relaxed) }

    /// Bytes `sendTo` sent from the calling thread, on any socket. A datagram server's requests all
    /// reply through its one socket, so `bytesSent` cannot tell them apart; each request runs on
    /// one thread, so the difference of this count across it is that request's replies.
    public static var bytesSentToByThisThread: UInt64 {
        UInt64(UInt(bitPattern: pthread_getspecific(sentToKey)))
    }

    func countReceived(_ count: Int) { if count > 0 { received.wrappingAdd(UInt64(count), ordering: .relaxed) } }

    func countSent(_ count: Int) { if count > 0 { sent.wrappingAdd(UInt64(count), ordering: .relaxed) } }

    static func addSentToByThisThread(_ count: Int) {
        guard count > 0 else { return }
        let total = bytesSentToByThisThread &+ UInt64(count)
        pthread_setspecific(sentToKey, UnsafeRawPointer(bitPattern: UInt(total)))
    }
}
