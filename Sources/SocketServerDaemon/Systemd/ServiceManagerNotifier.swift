// sd_notify by hand: READY/RELOADING/STOPPING/STATUS/WATCHDOG datagrams to $NOTIFY_SOCKET.
#if canImport(Glibc)
import Glibc
#endif
import SocketServer

/// Talks to systemd when it started us with `Type=notify` (NOTIFY_SOCKET set, a path or an
/// `@abstract` name). Without NOTIFY_SOCKET every call does nothing.
final class ServiceManagerNotifier {
    private let socket: Socket?
    private let address: SocketAddress?
    /// NOTIFY_SOCKET and WATCHDOG_USEC as systemd set them, to hand to the next image on an upgrade.
    private var exported: [(String, String)] = []
    /// Half of WATCHDOG_USEC, when systemd asked for keep-alives.
    private let watchdogInterval: Duration?
    private var lastWatchdog = ContinuousClock.now

    private init(socket: Socket?, address: SocketAddress?, watchdogInterval: Duration?) {
        self.socket = socket
        self.address = address
        self.watchdogInterval = watchdogInterval
    }

    /// Reads and unsets NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID (children must not see them).
    static func fromEnvironment() -> ServiceManagerNotifier {
        let path = getenv("NOTIFY_SOCKET").map { String(cString: $0) }
        var watchdog: Duration? = nil
        if let text = getenv("WATCHDOG_USEC").map({ String(cString: $0) }), let usec = Int64(text), usec > 0 {
            let pidMatches = getenv("WATCHDOG_PID").map { String(cString: $0) == String(getpid()) } ?? true
            if pidMatches { watchdog = .microseconds(usec / 2) }
        }
        let usecText = getenv("WATCHDOG_USEC").map { String(cString: $0) }
        for name in ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"] { unsetenv(name) }
        guard let path, !path.isEmpty else { return ServiceManagerNotifier(socket: nil, address: nil, watchdogInterval: nil) }
        let notifier = make(path: path, watchdog: watchdog)
        notifier.exported = [("NOTIFY_SOCKET", path)] + (watchdog != nil ? [("WATCHDOG_USEC", usecText ?? "")] : [])
        return notifier
    }

    private static func make(path: String, watchdog: Duration?) -> ServiceManagerNotifier {
        do {
            let address = try SocketAddress(parsing: path.hasPrefix("@") || path.hasPrefix("/") ? path : "/" + path)
            let socket = try Socket(family: .unix, type: .datagram)
            // Never block the master's loop on a reader that does not drain its queue.
            try socket.setBlocking(false)
            return ServiceManagerNotifier(socket: socket, address: address, watchdogInterval: watchdog)
        } catch {
            log.error("NOTIFY_SOCKET=\(path): \(error); not notifying the service manager")
            return ServiceManagerNotifier(socket: nil, address: nil, watchdogInterval: nil)
        }
    }

    var isActive: Bool { socket != nil }

    /// Sends one notification datagram (newline-separated assignments).
    func send(_ text: String) {
        guard let socket, let address else { return }
        do {
            try socket.sendTo(Array(text.utf8), address)
        } catch {
            log.warning("sd_notify to \(address): \(error)")
        }
    }

    func ready(status: String) {
        send("READY=1\nSTATUS=\(status)\nMAINPID=\(getpid())")
    }

    /// Reload started: RELOADING=1 with the monotonic time, as systemd 253+ expects.
    func reloading() {
        send("RELOADING=1\nMONOTONIC_USEC=\(monotonicNanoseconds() / 1000)\nSTATUS=reloading")
    }

    var nextWatchdog: ContinuousClock.Instant? {
        watchdogInterval.map { lastWatchdog.advanced(by: $0) }
    }

    func watchdogIfDue(now: ContinuousClock.Instant) {
        guard let next = nextWatchdog, next <= now else { return }
        lastWatchdog = now
        send("WATCHDOG=1")
    }

    /// Before a binary upgrade's exec: the next image finds systemd's variables as this one did
    /// (WATCHDOG_PID is this pid, which the exec keeps).
    func exportForNextImage() {
        for (name, value) in exported { setenv(name, value, 1) }
        if exported.contains(where: { $0.0 == "WATCHDOG_USEC" }) { setenv("WATCHDOG_PID", String(getpid()), 1) }
    }

    /// The exec failed: children must not see them.
    func withdrawExport() {
        for name in ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"] { unsetenv(name) }
    }

    /// In a forked worker: the socket belongs to the master.
    func releaseInWorker() {
        socket?.close()
    }
}
