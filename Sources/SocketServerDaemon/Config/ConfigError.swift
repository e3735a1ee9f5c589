// What the config loader reports: each problem with the file and line it comes from.

/// One problem in the configuration. `description` is `file:line: message`, as `nginx -t` prints.
public struct ConfigError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Where the problem is; nil only when there is no line to point at (the main file is unreadable).
    public var location: SourceLocation?
    public var message: String

    public init(_ message: String, at location: SourceLocation?) {
        self.message = message
        self.location = location
    }

    public var description: String {
        guard let location else { return message }
        return "\(location): \(message)"
    }
}

/// Every problem found in one load, in file order. Thrown by `ConfigLoader`.
public struct ConfigErrors: Error, Equatable, Sendable, CustomStringConvertible {
    public var errors: [ConfigError]

    public init(_ errors: [ConfigError]) {
        self.errors = errors
    }

    /// One error per line.
    public var description: String {
        errors.map(\.description).joined(separator: "\n")
    }
}

/// Collects errors while the loader keeps going.
struct Diagnostics {
    private(set) var errors: [ConfigError] = []

    var isEmpty: Bool { errors.isEmpty }

    mutating func add(_ message: String, at location: SourceLocation?) {
        errors.append(ConfigError(message, at: location))
    }

    mutating func add(contentsOf other: [ConfigError]) {
        errors.append(contentsOf: other)
    }

    /// The errors ordered by file (in the order files were read) and line; unlocated errors first.
    func sorted(fileOrder: [String]) -> [ConfigError] {
        var rank: [String: Int] = [:]
        for (index, file) in fileOrder.enumerated() where rank[file] == nil { rank[file] = index }
        let keyed = errors.enumerated().map { index, error -> (Int, Int, Int, ConfigError) in
            guard let location = error.location else { return (-1, 0, index, error) }
            return (rank[location.file] ?? fileOrder.count, location.line, index, error)
        }
        return keyed.sorted { a, b in (a.0, a.1, a.2) < (b.0, b.1, b.2) }.map(\.3)
    }
}
