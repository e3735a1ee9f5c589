// Under a file-size limit (LimitFSIZE=, ulimit -f) an upload past it gets ERR, leaves no partial
// file, and costs neither the worker nor its other clients.
import Foundation
import SocketServer
import XCTest

final class FileSizeLimitTests: DaemonTestCase {
    func put(port: Int, name: String, size: Int) throws -> String {
        let socket = try createConnection(host: "127.0.0.1", port: port, timeout: .seconds(10))
        defer { socket.close() }
        let header = Array(#"{"cmd":"put","filename":"\#(name)","filesize":\#(size)}"#.utf8)
        try socket.sendAll(withUnsafeBytes(of: UInt32(header.count).littleEndian) { Array($0) } + header)
        // The server may answer ERR before it has read everything; a refused rest is not a failure.
        try? socket.sendAll([UInt8](repeating: 66, count: size))
        return String(decoding: try socket.recv(300), as: UTF8.self)
    }

    func testAnUploadPastTheFileSizeLimitGetsErrAndTheWorkerGoesOn() throws {
        let port = freePort()
        let uploads = directory + "/uploads"
        try FileManager.default.createDirectory(atPath: uploads, withIntermediateDirectories: true)
        chmod(uploads, 0o777)
        let path = writeConfig("""
            [service upload]
            listen = tcp://127.0.0.1:\(port)
            handler = upload
            directory = \(uploads)
            max_size = 10000000
            workers = 1
            """, to: configDirectory + "/socketserverd.conf")
        // 64 blocks of 512 bytes: 32 KiB.
        let daemon = try DaemonProcess(configPath: path, directory: directory, wrapper: "ulimit -f 64;")
        daemons.append(daemon)
        try daemon.waitReady()
        let worker = daemon.workerPIDs()
        let reply = try put(port: port, name: "big.bin", size: 200_000)
        XCTAssertTrue(reply.hasPrefix("ERR") && reply.lowercased().contains("too large"), reply)
        XCTAssertEqual(try put(port: port, name: "small.txt", size: 100).prefix(2), "OK")
        XCTAssertEqual(daemon.workerPIDs(), worker, "the worker died:\n\(daemon.log)")
        let files = try FileManager.default.contentsOfDirectory(atPath: uploads)
        XCTAssertEqual(files, ["small.txt"], "a partial file stayed")
        XCTAssertFalse(daemon.log.contains("SIGXFSZ"), daemon.log)
    }
}
