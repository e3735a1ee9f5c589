// concurrency = events: one worker with one event-loop thread serves hundreds of persistent
// clients at once; handlers without an event-driven variant are refused at the concurrency line.
import Foundation
import SocketServer
import XCTest

final class EventsConcurrencyTests: DaemonTestCase {
    /// Reads exactly `count` bytes.
    private func receive(_ socket: Socket, _ count: Int) throws -> String {
        var received: [UInt8] = []
        while received.count < count {
            let chunk = try socket.recv(count - received.count)
            if chunk.isEmpty { break }
            received += chunk
        }
        return String(decoding: received, as: UTF8.self)
    }

    /// The `Threads:` line of /proc/PID/status.
    private func threads(of pid: pid_t) -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("Threads:") {
            return Int(line.dropFirst("Threads:".count).trimmingCharacters(in: .whitespaces))
        }
        return nil
    }

    func testOneEventWorkerServesThreeHundredPersistentClients() throws {
        let port = freePort()
        let upperPort = freePort()
        let daemon = try startDaemon("""
            [service echo]
            listen = tcp://127.0.0.1:\(port)
            handler = echo
            workers = 1
            concurrency = events
            timeout = 60

            [service upper]
            listen = tcp://127.0.0.1:\(upperPort)
            handler = upper
            workers = 1
            concurrency = events
            """)
        var clients: [Socket] = []
        defer { for client in clients { client.close() } }
        for _ in 0..<300 { clients.append(try createConnection(host: "127.0.0.1", port: port, timeout: .seconds(10))) }
        // All 300 stay connected; in each round every one of them has a request outstanding.
        for round in 0..<3 {
            for (index, client) in clients.enumerated() { try client.sendAll("client \(index) round \(round)\n") }
            for (index, client) in clients.enumerated() {
                let expected = "client \(index) round \(round)\n"
                XCTAssertEqual(try receive(client, expected.utf8.count), expected)
            }
        }
        XCTAssertEqual(try tcpRoundTrip(port: upperPort, "mixed Case\n"), "MIXED CASE\n")
        // Two workers (one per service), each with a handful of threads, not one per client.
        let workers = daemon.workerPIDs()
        XCTAssertEqual(workers.count, 2)
        for worker in workers {
            let count = threads(of: worker)
            XCTAssertNotNil(count)
            XCTAssertLessThan(count ?? .max, 10, "worker \(worker) has \(count ?? 0) threads")
        }
        for client in clients { try client.shutdown(.write) }
        for client in clients { XCTAssertEqual(try client.recv(16), []) }
    }

    func testCheckConfigRefusesAHandlerWithoutAnEventDrivenVariant() throws {
        let path = writeConfig("""
            [service clock]
            listen = tcp://127.0.0.1:7013
            handler = daytime
            concurrency = events
            """, to: directory + "/events.conf")
        let output = directory + "/check.txt"
        let pid = try spawn(DaemonProcess.binaryPath, ["--check-config", "--config", path], env: ["PATH=/usr/bin:/bin"],
                            stdout: output, stderr: output)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
        XCTAssertEqual((status >> 8) & 0xff, 1, text)
        XCTAssertTrue(text.contains("events.conf:4: handler 'daytime' does not support concurrency 'events' "
            + "(it supports sync, threads and fork); handlers that do: echo, discard, upper"), text)
    }
}
