// Program workers (`handler = program`) in the master: starting one, and how to ask one to stop.
#if canImport(Glibc)
import Glibc
#endif
import SocketServer
import SocketServerHandlers

extension Arbiter {
    /// Starts one program worker of `service` on `socket`, for the current generation. It is
    /// ready once running (`ready = started`) or once it sends READY=1 (`notify`).
    func spawnProgram(_ service: ServiceConfig, socket: Socket) {
        guard let settings = service.programSettings else {
            log.error("service \(service.name): its program settings do not parse; no worker started")
            return
        }
        // Blocking, as systemd passes a socket by default. The flag belongs to the socket, which
        // every worker of the service shares: it is set once, before the first program runs, and
        // then left to the programs (gunicorn, for one, makes it non-blocking itself).
        if !supervisor.workers.records.values.contains(where: { $0.service == service.name && $0.program != nil }) {
            try? socket.setNonBlockingFlag(false)
        }
        let launched: LaunchedProgram
        do {
            launched = try ProgramLaunch.start(service: service.name, settings: settings, socket: socket,
                                               masterPID: masterPID, credentials: credentials)
        } catch {
            log.error("service \(service.name): cannot start a program worker: \(error)")
            return
        }
        let generation = cycle.generation
        var record = WorkerRecord(pid: launched.pid, service: service.name, generation: generation, started: .now)
        record.program = ProgramTraits(stopSignal: settings.stopSignal, startTimeout: settings.startTimeout)
        record.failedToStart = launched.failure != nil
        supervisor.workers.add(record)
        let ready = launched.failure == nil && settings.readiness == .started
        programs.add(ProgramWorkers.Program(pid: launched.pid, service: service.name, output: launched.output,
                                            notify: launched.notify, ready: ready))
        if let failure = launched.failure {
            log.error("service \(service.name): program worker \(launched.pid) cannot start: \(failure)")
        } else {
            log.info("worker \(launched.pid) started for service \(service.name) (generation \(generation)): \(settings.program)")
        }
    }

    /// The signal that asks worker `pid` to finish: its program's stop_signal, else SIGTERM.
    func stopSignal(of pid: pid_t) -> Int32 {
        supervisor.workers.records[pid]?.program?.stopSignal ?? SIGTERM
    }
}
