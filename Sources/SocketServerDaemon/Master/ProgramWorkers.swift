// The master's side of its program workers: each one's output relay and notification socket,
// which the master's loop polls, and whether it is ready.
#if canImport(Glibc)
import Glibc
#endif
import CSocketServerShims
import SocketServer
import SocketServerHandlers

/// Program workers by pid. The supervisor's own records say which workers are programs and how
/// to stop them; this holds what the master reads from them.
final class ProgramWorkers {
    final class Program {
        let pid: pid_t
        let service: String
        var output: ProgramOutput
        /// Its NOTIFY_SOCKET's receiving end (-1: `ready = started`).
        private(set) var notify: Int32
        /// Exec succeeded and, with `ready = notify`, READY=1 came.
        var ready: Bool

        init(pid: pid_t, service: String, output: Int32, notify: Int32, ready: Bool) {
            self.pid = pid
            self.service = service
            self.notify = notify
            self.ready = ready
            self.output = ProgramOutput(descriptor: output) { line in log.info("service \(service): program \(pid): \(line)") }
        }

        /// Takes the waiting notifications (a few per turn). READY=1 counts from the program or
        /// a process of its group (a helper such as systemd-notify); others are ignored. STOPPING=1
        /// is logged, STATUS= at debug level; the rest of sd_notify's words mean nothing here.
        func readNotifications() {
            var buffer = [CChar](repeating: 0, count: 4096)
            for _ in 0..<16 {
                var sender: Int32 = 0
                let count = cssd_notify_receive(notify, &buffer, buffer.count, &sender)
                guard count >= 0 else { return }
                let text = String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
                guard sender == pid || (sender > 0 && getpgid(sender) == pid) else {
                    log.debug("service \(service): program \(pid): ignored a notification from pid \(sender)")
                    continue
                }
                for line in text.split(separator: "\n") {
                    if line == "READY=1" && !ready {
                        ready = true
                        log.info("service \(service): program \(pid) is ready (READY=1)")
                    } else if line == "STOPPING=1" {
                        log.info("service \(service): program \(pid) is stopping (STOPPING=1)")
                    } else if line.hasPrefix("STATUS=") {
                        log.debug("service \(service): program \(pid): \(ProgramOutput.printable(Array(line.utf8)[...]))")
                    }
                }
            }
        }

        func close() {
            if notify >= 0 { Glibc.close(notify) }
            notify = -1
            output.finish()
        }
    }

    private(set) var programs: [pid_t: Program] = [:]

    func add(_ program: Program) { programs[program.pid] = program }

    /// Whether the program worker `pid` is ready (nil: not a program worker).
    func isReady(_ pid: pid_t) -> Bool? { programs[pid]?.ready }

    /// What the master's poll watches: each program's output and notification socket.
    func pollEntries() -> [pollfd] {
        programs.values.sorted { $0.pid < $1.pid }.flatMap { program in
            [pollfd(fd: program.output.descriptor, events: Int16(POLLIN), revents: 0),
             pollfd(fd: program.notify, events: Int16(POLLIN), revents: 0)]
        }
    }

    /// Reads what `pollEntries`' descriptors have, as `polled` (those entries after the poll) says.
    func handle(_ polled: ArraySlice<pollfd>) {
        let ready = polled.filter { $0.revents != 0 && $0.fd >= 0 }.map(\.fd)
        guard !ready.isEmpty else { return }
        var owners: [Int32: Program] = [:]
        for program in programs.values {
            owners[program.output.descriptor] = program
            owners[program.notify] = program
        }
        for fd in ready {
            guard let program = owners[fd] else { continue }
            if program.output.descriptor == fd { program.output.readAvailable() } else { program.readNotifications() }
        }
    }

    /// The worker `pid` ended: what it wrote last goes to the log, its descriptors are closed.
    func ended(_ pid: pid_t) {
        guard let program = programs.removeValue(forKey: pid) else { return }
        program.output.readAvailable()
        program.close()
    }

    /// For the next image of the master: each program worker with the descriptors it reads.
    func handover(_ workers: WorkerTable) -> [UpgradeHandover.Program] {
        workers.records.values.sorted { $0.pid < $1.pid }.compactMap { record in
            guard let traits = record.program else { return nil }
            let program = programs[record.pid]
            return UpgradeHandover.Program(pid: record.pid, stopSignal: traits.stopSignal,
                                           startTimeoutNanoseconds: traits.startTimeout.wholeNanoseconds,
                                           output: program?.output.descriptor ?? -1, notify: program?.notify ?? -1,
                                           failedToStart: record.failedToStart)
        }
    }

    /// In the new image: relays the output and notifications of the previous image's programs.
    func adopt(_ handover: UpgradeHandover, workers: WorkerTable) {
        for program in handover.programs {
            for fd in [program.output, program.notify] where fd >= 0 { setCloseOnExec(fd, true) }
            guard let record = workers.records[program.pid] else {
                for fd in [program.output, program.notify] where fd >= 0 { Glibc.close(fd) }
                continue
            }
            add(Program(pid: program.pid, service: record.service, output: program.output, notify: program.notify,
                        ready: handover.workers.first { $0.pid == program.pid }?.ready ?? false))
        }
    }
}
