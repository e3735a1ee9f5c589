// The seeds' FTP-style upload server, as the seed writes it on BaseRequestHandler: a 4-byte
// length, a JSON header {"cmd": "put", "filename": …, "filesize": …}, then the file's bytes.
// (The hardened version is the library's UploadStreamHandler: see upload-handler.)
// swift run upload-server [PORT] [DIRECTORY], then: python3 Sources/Examples/upload-server/client.py 127.0.0.1 8080 FILE…
import Foundation
import SocketServer

let arguments = CommandLine.arguments
let serverDir = arguments.count > 2 ? arguments[2] : "file_upload"

final class FtpServer: BaseRequestHandler {
    let maxPacketSize = 1024

    override func handle() throws {
        print(request)
        while true {
            // struct.unpack('i', self.request.recv(4))[0]; MSG_WAITALL waits for all 4 bytes
            let data = try request.recv(4, flags: Int32(MSG_WAITALL))
            if data.count < 4 { break }  // the client is done
            let dataLen = Int(data.withUnsafeBytes { Int32(littleEndian: $0.loadUnaligned(as: Int32.self)) })
            let headJSON = try request.recv(dataLen, flags: Int32(MSG_WAITALL)).decode()
            let headDic = try JSONSerialization.jsonObject(with: Data(headJSON.utf8)) as? [String: Any] ?? [:]
            if headDic["cmd"] as? String == "put" { try put(headDic) }
        }
    }

    func put(_ args: [String: Any]) throws {
        // os.path.basename: the seed joins the client's name as given, which lets it write anywhere
        let filename = ((args["filename"] as? String ?? "") as NSString).lastPathComponent
        let filePath = serverDir + "/" + filename
        let filesize = args["filesize"] as? Int ?? 0
        var recvSize = 0
        print("----->", filePath)
        _ = FileManager.default.createFile(atPath: filePath, contents: nil)  // open(file_path, "wb")
        let f = try FileHandle(forWritingTo: URL(fileURLWithPath: filePath))
        defer { try? f.close() }
        while recvSize < filesize {
            let recvData = try request.recv(min(maxPacketSize, filesize - recvSize))
            if recvData.isEmpty { break }
            try f.write(contentsOf: recvData)
            recvSize += recvData.count
            print("recvsize:\(recvSize) filesize:\(filesize)")
        }
    }
}

runMain {
    let port = arguments.count > 1 ? Int(arguments[1]) ?? 8080 : 8080
    let ftpServer = try ThreadingTCPServer(("127.0.0.1", port), FtpServer.self)
    let (host, boundPort) = ftpServer.serverAddress
    print("serving on \(host):\(boundPort)")
    try ftpServer.serveForever()
}
