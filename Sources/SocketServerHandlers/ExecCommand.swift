// The exec handler's `command =` value: a program and its arguments, split like a shell would
// split plain words (with '…' and "…" quoting and \ escapes, but no expansion of any kind).
#if canImport(Glibc)
import Glibc
#endif

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
