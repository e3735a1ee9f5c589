// Under a file-size limit (LimitFSIZE=, ulimit -f) an upload past it gets ERR, leaves no partial
// file, and costs neither the worker nor its other clients.
import Foundation
import SocketServer
import SocketServerTestSupport
import XCTest

final class FileSizeLimitTests: DaemonTestCase {
    func testAnUploadPastTheFileSizeLimitGetsErrAndTheWorkerGoesOn() throws {
        let uploads = makeDirectory("uploads")
        // 64 blocks of 512 bytes: 32 KiB.
        let daemon = try startDaemon(service: Service("upload", ["directory": uploads, "max_size": 10_000_000, "workers": 1]),
                                     wrapper: "ulimit -f 64;")
        let worker = daemon.workerPIDs()
        let reply = try upload(port: daemon.port, name: "big.bin", content: [UInt8](repeating: 66, count: 200_000))
        XCTAssertTrue(reply.hasPrefix("ERR") && reply.lowercased().contains("too large"), reply)
        XCTAssertEqual(try upload(port: daemon.port, name: "small.txt", content: [UInt8](repeating: 66, count: 100)).prefix(2), "OK")
        XCTAssertEqual(daemon.workerPIDs(), worker, "the worker died:\n\(daemon.log)")
        XCTAssertEqual(directoryEntries(uploads), ["small.txt"], "a partial file stayed")
        XCTAssertFalse(daemon.log.contains("SIGXFSZ"), daemon.log)
    }
}
