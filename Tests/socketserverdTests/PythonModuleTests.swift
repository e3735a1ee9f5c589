// The Python module socketserverd (Sources/python): the seeds' upload server, its last line
// changed to socketserverd.serve(...), served by two program workers.
import Foundation
import SocketServer
import SocketServerTestSupport
import XCTest

final class PythonModuleTests: DaemonTestCase {
    var uploads = ""

    /// The seeds' server and the module in the test directory, and the service that runs it.
    func seedService(workers: Int = 2) -> Service {
        let python = makeDirectory("python", mode: 0o755)
        _ = writeFile(readText(repositoryRoot + "/Sources/python/socketserverd.py"), to: python + "/socketserverd.py", mode: 0o644)
        uploads = makeDirectory("file_upload")
        // Python buffers its output in a pipe: unbuffered, the log gets each line as it is printed.
        return programService(command: testProgram("seed_upload_server.py"), workers: workers,
                              [("ready", "notify"), ("environment", "PYTHONPATH=\(python) PYTHONUNBUFFERED=1")])
    }

    func content(_ index: Int, size: Int = 3000) -> [UInt8] { seedContent(index, size: size) }

    /// The pids whose "-----> path" line (the seed's own print) names `name`.
    func storers(of name: String, in log: String) -> Set<String> {
        Set(log.split(separator: "\n").filter { $0.hasSuffix("-----> \(uploads)/\(name)") }.compactMap { line in
            line.components(separatedBy: ": program ").last?.split(separator: ":").first.map(String.init)
        })
    }

    func testTheSeedsUploadServerServesUploadsFromBothWorkers() throws {
        let daemon = try startDaemon(service: seedService(), daemon: ["graceful_timeout": 10])
        XCTAssertTrue(daemon.waitForLog("is ready (READY=1)", count: 2), daemon.log)
        var pids: Set<String> = []
        var index = 0
        while pids.count < 2 && index < 40 {
            index += 1
            try seedUpload(port: daemon.port, name: "file\(index).bin", content: content(index))
            XCTAssertEqual(readBytes(uploads + "/file\(index).bin"), content(index), "upload \(index)")
            XCTAssertTrue(daemon.waitForLog("-----> \(uploads)/file\(index).bin"), daemon.log)
            pids.formUnion(storers(of: "file\(index).bin", in: daemon.log))
        }
        XCTAssertEqual(pids, Set(daemon.workerPIDs().map(String.init)), "both workers stored uploads:\n\(daemon.log)")
    }

    /// Run by hand (no LISTEN_PID), serve binds `address` itself and stops on TERM.
    func testRunByHandItBindsTheAddressItself() throws {
        let port = freePort()
        let program = script("upper.py", """
            import socketserver, socketserverd

            class Upper(socketserver.StreamRequestHandler):
                def handle(self):
                    for line in self.rfile:
                        self.wfile.write(line.upper())

            socketserverd.serve(socketserver.ThreadingTCPServer, Upper, address=("127.0.0.1", \(port)))
            print("returned", flush=True)

            """)
        let output = directory + "/upper.log"
        let pid = try spawn("/usr/bin/python3", [program], env: ["PATH=/usr/bin:/bin", "PYTHONPATH=\(repositoryRoot)/Sources/python",
                                                                  "LISTEN_PID=1", "LISTEN_FDS=1"],
                            stdout: output, stderr: output)
        var reply = ""
        XCTAssertTrue(eventually(within: .seconds(10), every: .milliseconds(20)) {
            reply = (try? ask(port: port, "hello\n")) ?? ""
            return !reply.isEmpty
        }, readText(output))
        XCTAssertEqual(reply, "HELLO\n", "LISTEN_PID naming another process is not socket activation")
        kill(pid, SIGTERM)
        XCTAssertEqual(exitCode(of: pid), 0, readText(output))
        XCTAssertTrue(readText(output).contains("returned"), readText(output))
    }

    func testAReloadDuringUploadsFailsNothing() throws {
        let daemon = try startDaemon(service: seedService(), daemon: ["graceful_timeout": 10])
        let loop = SeedUploadLoop(port: daemon.port, directory: uploads, clients: 2)
        loop.waitForUploads(10)
        for generation in 2...3 {
            let old = daemon.workerPIDs()
            daemon.signal(SIGHUP)
            XCTAssertNotNil(daemon.waitForStatus("generation \(generation)"), daemon.log)
            XCTAssertTrue(daemon.waitGone(old, within: .seconds(15)), daemon.log)
            loop.waitForUploads(10)
        }
        let (done, failures) = loop.stop()
        XCTAssertEqual(failures, [], "uploads that failed during the reloads")
        XCTAssertGreaterThan(done, 30)
    }

    func testTERMLetsAnUploadInFlightFinish() throws {
        let daemon = try startDaemon(service: seedService(workers: 1), daemon: ["graceful_timeout": 10])
        XCTAssertTrue(daemon.waitForLog("is ready (READY=1)"), daemon.log)
        let bytes = content(7, size: 200_000)
        let frame = putFrame("big.bin", bytes)
        let socket = try connectTCP(port: daemon.port)
        defer { socket.close() }
        try socket.sendAll(Array(frame[..<100_000]))
        XCTAssertTrue(daemon.waitForLog("-----> \(uploads)/big.bin"), "the upload is under way:\n\(daemon.log)")
        let stopping = daemon.beginGracefulStop()
        XCTAssertTrue(stopping.last?.contains("STOPPING=1") == true, "\(stopping)")
        XCTAssertTrue(daemon.waitForLog("is stopping (STOPPING=1)"), "the program took TERM:\n\(daemon.log)")
        try socket.sendAll(Array(frame[100_000...]))
        try socket.shutdown(.write)
        _ = try readAll(socket)
        XCTAssertEqual(readBytes(uploads + "/big.bin"), bytes, "the upload in flight was stored whole")
        XCTAssertEqual(daemon.waitExit(), 0, daemon.log)
        XCTAssertFalse(daemon.log.contains("still running after its deadline"), daemon.log)
        XCTAssertTrue(daemon.log.contains("exited with status 0"), "the program shut down by itself:\n\(daemon.log)")
    }
}

/// `content` for upload `index`: bytes that differ from one upload to the next.
func seedContent(_ index: Int, size: Int) -> [UInt8] { (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ index) } }

/// One upload as the seed's protocol has it (the server sends no reply): the frame, then end of
/// file; the server closes the connection once its handler has stored the file.
func seedUpload(port: Int, name: String, content: [UInt8]) throws {
    let socket = try connectTCP(port: port)
    defer { socket.close() }
    try socket.sendAll(putFrame(name, content))
    try socket.shutdown(.write)
    _ = try readAll(socket)
}

/// Clients uploading files of 20,000 bytes in a loop, each checked on disk once its connection ends.
final class SeedUploadLoop: @unchecked Sendable {
    private let lock = NSLock()
    private var running = true
    private var done = 0
    private var failures: [String] = []
    private let finished = DispatchGroup()

    init(port: Int, directory: String, clients: Int) {
        for client in 0..<clients {
            finished.enter()
            Thread.detachNewThread { [self] in
                var index = 0
                while lock.withLock({ running }) {
                    index += 1
                    let name = "c\(client)-\(index).bin"
                    let bytes = seedContent(index, size: 20_000)
                    do {
                        try seedUpload(port: port, name: name, content: bytes)
                        let stored = readBytes(directory + "/" + name)
                        lock.withLock {
                            if stored == bytes { done += 1 } else { failures.append("\(name): stored \(stored?.count ?? -1) bytes") }
                        }
                    } catch {
                        lock.withLock { failures.append("\(name): \(error)") }
                    }
                }
                finished.leave()
            }
        }
    }

    /// Waits until `count` more uploads were stored (or 20 s passed).
    func waitForUploads(_ count: Int) {
        let target = lock.withLock { done } + count
        XCTAssertTrue(eventually(within: .seconds(20)) { lock.withLock { done } >= target }, "uploads stalled")
    }

    func stop() -> (Int, [String]) {
        lock.withLock { running = false }
        finished.wait()
        return lock.withLock { (done, failures) }
    }
}
