// What the exec handler runs: its settings (program, arguments, working directory), and the
// `command =` value they come from, split like a shell would split plain words (with '…' and "…"
// quoting and \ escapes, but no expansion of any kind).
#if canImport(Glibc)
import Glibc
#endif

/// The exec handlers' settings: the program each request runs, its arguments and the directory it
/// runs in. A plain value: build one, or let the daemon build it from `command` and `directory`.
public struct ExecSettings: Sendable, Equatable {
    /// The program's absolute path; empty: no program, every request fails.
    public var program: String
    public var arguments: [String]
    /// The program's working directory (`/` by default, as inetd's programs).
    public var directory: String

    public init(program: String, arguments: [String] = [], directory: String = "/") {
        self.program = program
        self.arguments = arguments
        self.directory = directory
    }

    /// A command line as the `command` key takes it: an absolute program path, then arguments
    /// split like shell words.
    public init(command: String, directory: String = "/") throws(HandlerSettingsError) {
        switch ExecCommand.parse(command) {
        case .success(let parsed): self.init(program: parsed.program, arguments: parsed.arguments, directory: directory)
        case .failure(let error): throw HandlerSettingsError(error.description)
        }
    }

    /// The daemon's settings for a service: its keys `command` and `directory` (`/` when unset).
    public init(_ configuration: HandlerConfiguration) throws(HandlerSettingsError) {
        guard let command = configuration.options["command"] else { throw HandlerSettingsError("command is required") }
        try self.init(command: command, directory: configuration.options[WorkingDirectory.key] ?? WorkingDirectory.defaultValue)
    }
}

struct ExecCommand: Equatable {
    let program: String
    let arguments: [String]

    /// Splits `text` into words; a failure with a reason when it is empty or badly quoted, or
    /// when the program is not an absolute path.
    static func parse(_ text: String) -> Result<ExecCommand, ExecCommandError> {
        let words: [String]
        switch splitWords(text) {
        case .failure(let error): return .failure(error)
        case .success(let split): words = split
        }
        guard let program = words.first else { return .failure(.init("command is empty")) }
        guard program.hasPrefix("/") else { return .failure(.init("the program must be an absolute path, not \(program)")) }
        return .success(ExecCommand(program: program, arguments: Array(words.dropFirst())))
    }

    /// Splits `text` into words as a shell splits plain words: blanks separate them; '…' and "…"
    /// quote (a backslash escapes inside "…"), a backslash escapes outside; nothing is expanded.
    static func splitWords(_ text: String) -> Result<[String], ExecCommandError> {
        var words: [String] = []
        var current: [Character] = []
        var inWord = false
        var quote: Character? = nil
        var escaped = false
        for character in text {
            if escaped {
                current.append(character)
                escaped = false
                continue
            }
            if let open = quote {
                if character == open {
                    quote = nil
                } else if character == "\\" && open == "\"" {
                    escaped = true
                } else {
                    current.append(character)
                }
                continue
            }
            switch character {
            case " ", "\t":
                if inWord { words.append(String(current)) }
                current = []
                inWord = false
            case "'", "\"":
                quote = character
                inWord = true
            case "\\":
                escaped = true
                inWord = true
            default:
                current.append(character)
                inWord = true
            }
        }
        if quote != nil || escaped { return .failure(.init("unterminated quote or escape")) }
        if inWord { words.append(String(current)) }
        return .success(words)
    }

    /// Problems with the program file itself (missing, not executable), or nil.
    func fileProblem() -> String? {
        var info = stat()
        guard stat(program, &info) == 0 else { return "\(program): \(String(cString: strerror(errno)))" }
        guard info.st_mode & S_IFMT == S_IFREG else { return "\(program) is not a regular file" }
        guard access(program, X_OK) == 0 else { return "\(program) is not executable by this user (uid \(geteuid()))" }
        return nil
    }
}

struct ExecCommandError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
