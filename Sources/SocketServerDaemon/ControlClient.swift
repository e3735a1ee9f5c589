// `socketserverd status` and `socketserverd scale`: find the control socket through the config,
// send one request line, print the master's answer.
#if canImport(Glibc)
import Glibc
#endif
import SocketServer

extension Daemon {
    /// `status [--json]`: prints the running daemon's report; 1 when no daemon answers.
    public static func status(configPath: String, json: Bool) -> Int32 {
        ControlClient.run(.status(json: json), configPath: configPath)
    }

    /// `scale SERVICE N`: the service runs N workers until the next reload.
    public static func scale(configPath: String, service: String, workers: Int) -> Int32 {
        ControlClient.run(.scale(service: service, workers: workers), configPath: configPath)
    }

    /// The worker counts `scale` takes.
    public static let scaleRange = ServiceKeys.workerRange
}

/// The client end of the control socket.
enum ControlClient {
    /// How long the whole exchange may take.
    static let timeout: Duration = .seconds(10)
    /// The largest answer read (a report of thousands of workers is far smaller).
    static let answerLimit = 64 << 20
    /// Where the packaged unit's RuntimeDirectory= puts the socket, for a shell that has no
    /// $RUNTIME_DIRECTORY (only the service's own processes get it).
    static let packagedRuntimeDirectory = "/run/socketserverd"

    static func run(_ request: ControlRequest, configPath: String) -> Int32 {
        let path: String
        switch socketPath(configPath: configPath) {
        case .success(let found): path = found
        case .failure(let problem):
            fail(problem.description)
            return 1
        }
        var answer = exchange(request, path: path)
        // A connection the master accepted just before a binary upgrade's exec is closed unanswered
        // (or reset, its request unread); the next image answers on the same socket. Both
        // requests are safe to repeat.
        for _ in 0..<3 {
            guard case .failure(.closedUnanswered) = answer else { break }
            usleep(100_000)
            answer = exchange(request, path: path)
        }
        switch answer {
        case .success(let text):
            print(text, terminator: "")
            return 0
        case .failure(let problem):
            fail(problem.description)
            return 1
        }
    }

    /// Why an exchange failed.
    enum Failure: Error, CustomStringConvertible {
        case failed(String)
        /// The master closed the connection without a word.
        case closedUnanswered(path: String)

        var description: String {
            switch self {
            case .failed(let text): return text
            case .closedUnanswered(let path): return "the daemon on \(path) closed the connection without an answer"
            }
        }
    }

    /// The control socket the config at `configPath` names: `control_socket`, or when unset
    /// control.sock in $RUNTIME_DIRECTORY, else in the packaged unit's runtime directory. Only
    /// that key is read: an error elsewhere in the file (an edit in progress) does not matter here.
    static func socketPath(configPath: String) -> Result<String, DaemonError> {
        let sources = ConfigSources.load(path: configPath, forRoot: false)
        guard !sources.files.isEmpty else {
            let reason = sources.diagnostics.errors.first.map(\.description) ?? "cannot read \(configPath)"
            return .failure(.message(reason))
        }
        var setting = ControlSocketSetting.automatic
        let entries = sources.sections.filter { $0.kind == .daemon }.flatMap(\.entries)
        if let entry = entries.first(where: { $0.key == DaemonKeys.controlSocket.name }) {
            switch DaemonKeys.controlSocket.kind.parse(entry.value, entry.key, KeyContext()) {
            case .success(let value): setting = value
            case .failure(let problems):
                return .failure(.message("\(entry.location): " + problems.list.map(\.message).joined(separator: "; ")))
            }
        }
        if case .off = setting {
            return .failure(.message("\(configPath) sets control_socket = off: the daemon has no control socket"))
        }
        let runtime = getenv("RUNTIME_DIRECTORY").map { String(cString: $0) } ?? packagedRuntimeDirectory
        return setting.path(runtimeDirectory: runtime).map { .success($0) }
            ?? .failure(.message("no control socket: \(configPath) sets no control_socket"))
    }

    /// Sends the request line and reads the answer to its end: its text after `ok`, or the
    /// master's error.
    static func exchange(_ request: ControlRequest, path: String) -> Result<String, Failure> {
        var answer: [UInt8] = []
        do {
            let socket = try Socket(family: .unix, type: .stream)
            defer { socket.close() }
            try socket.setTimeout(timeout)
            let code = try socket.connectEx(.unix(path: path))
            guard code == 0 else {
                let reason = Errno(rawValue: code).description
                if code == EACCES || code == EPERM {
                    return .failure(.failed("cannot connect to \(path): \(reason) (it is for root and the daemon's group)"))
                }
                return .failure(.failed("no daemon answers on \(path) (\(reason))"))
            }
            try socket.sendAll(request.line + "\n")
            while answer.count < answerLimit {
                let chunk = try socket.recv(65536)
                if chunk.isEmpty { break }
                answer += chunk
            }
        } catch {
            if [ECONNRESET, EPIPE].contains(error.errno) { return .failure(.closedUnanswered(path: path)) }
            return .failure(.failed("no answer from the daemon on \(path): \(error)"))
        }
        let text = String(decoding: answer, as: UTF8.self)
        if text.hasPrefix("ok\n") { return .success(String(text.dropFirst(3))) }
        if text.hasPrefix("error: ") {
            return .failure(.failed(String(text.dropFirst(7).prefix { $0 != "\n" })))
        }
        guard !answer.isEmpty else { return .failure(.closedUnanswered(path: path)) }
        return .failure(.failed("the daemon on \(path) answered \(ConfigText.quoted(String(text.prefix(80))))"))
    }

    private static func fail(_ message: String) { writeStandardError("socketserverd: \(message)\n") }
}
