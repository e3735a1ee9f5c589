// The seeds' upload server with the library's UploadStreamHandler: the same protocol, hardened
// (temporary file, fsync, rename, no path escapes, a size limit, replies "OK name size").
// Configured as a Python handler class is: by subclassing.
// swift run upload-handler [PORT] [DIRECTORY], then: python3 Sources/Examples/upload-server/client.py 127.0.0.1 8080 FILE…
import SocketServer
import SocketServerHandlers

let arguments = CommandLine.arguments
let uploadDirectory = arguments.count > 2 ? arguments[2] : "/srv/uploads"

final class Uploads: UploadStreamHandler {
    override var settings: UploadStreamHandler.Settings {
        .init(directory: uploadDirectory, maxSize: 1 << 20, timeout: .seconds(30))
    }
}

runMain {
    let port = arguments.count > 1 ? Int(arguments[1]) ?? 8080 : 8080
    let server = try ThreadingTCPServer(("127.0.0.1", port), Uploads.self)
    let (host, boundPort) = server.serverAddress
    print("serving on \(host):\(boundPort)")
    try server.serveForever()
}
