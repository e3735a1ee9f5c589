// Reading the main file and its includes into one list of raw sections, in the order written.
#if canImport(Glibc)
import Glibc
#endif

/// One `[daemon]` or `[service NAME]` section as written, before any checking of its keys.
struct RawSection: Equatable {
    enum Kind: Equatable {
        case daemon
        case service(name: String)
        case plugin(name: String)
    }
    var kind: Kind
    var location: SourceLocation
    var entries: [RawEntry] = []
}

/// One `key = value` line inside a section.
struct RawEntry: Equatable {
    var key: String
    var value: String
    var location: SourceLocation
}

/// The sections of every file read, with the lexing and include errors met on the way.
/// Each file starts at top level, where only `include` is allowed; `include` may also appear in
/// `[daemon]`. Included files are read in byte order of their paths, depth first, where the
/// `include` line stands. Every file read, and every directory an include's glob lists, must be
/// trusted (`ConfigTrust`); an include that is not is refused at its line.
struct ConfigSources {
    static let maximumIncludeDepth = 8
    static let maximumFiles = 1024
    static let sectionKinds = ["daemon", "service", "plugin"]

    private(set) var sections: [RawSection] = []
    /// Every file read, in order.
    private(set) var files: [String] = []
    /// Lines whose value holds a `;` or `#` that starts no comment (no whitespace before it), by
    /// line: an error about such a value says how to write the comment.
    private(set) var unspacedComments: [SourceLocation: String] = [:]
    var diagnostics = Diagnostics()
    private let trust: ConfigTrust

    private init(trust: ConfigTrust) {
        self.trust = trust
    }

    /// Reads `path` and everything it includes. `forRoot`: the daemon starts as root, so every
    /// file and directory read must be root's.
    static func load(path: String, forRoot: Bool) -> ConfigSources {
        var sources = ConfigSources(trust: ConfigTrust(forRoot: forRoot))
        sources.readFile(path, depth: 0, chain: [], includedBy: nil)
        return sources
    }

    /// Parses `bytes` as if they were the file `file` (includes are relative to its directory).
    static func parse(bytes: [UInt8], file: String, forRoot: Bool) -> ConfigSources {
        var sources = ConfigSources(trust: ConfigTrust(forRoot: forRoot))
        guard bytes.count <= ConfigFiles.maximumFileSize else {
            sources.diagnostics.add("\(file) is larger than the limit of \(ConfigFiles.maximumFileSize) bytes (4 MiB)",
                                    at: nil)
            return sources
        }
        sources.files.append(file)
        sources.process(bytes, file: file, depth: 0,
                        chain: [(ConfigFiles.canonical(file), file)])
        return sources
    }

    /// `chain` is the files including this one: (canonical path, path as shown); `includedBy` the
    /// include line's value and place, where a failure to read is reported.
    private mutating func readFile(_ path: String, depth: Int, chain: [(String, String)],
                                   includedBy: (value: String, location: SourceLocation)?) {
        switch ConfigFiles.read(path, trust: trust) {
        case .failure(let failure):
            if let includedBy, let missing = failure.missing {
                diagnostics.add("include \(ConfigText.quoted(includedBy.value)): \(ConfigFiles.absolute(missing)) "
                    + "does not exist", at: includedBy.location)
            } else {
                diagnostics.add(failure.message, at: includedBy?.location)
            }
        case .success(let bytes):
            files.append(path)
            process(bytes, file: path, depth: depth, chain: chain + [(ConfigFiles.canonical(path), path)])
        }
    }

    private enum Position {
        case topLevel
        case section(Int)
        /// Inside a section that was already reported as bad; its keys are skipped quietly.
        case skipped
    }

    private mutating func process(_ bytes: [UInt8], file: String, depth: Int, chain: [(String, String)]) {
        let (lines, errors) = IniParser.parse(bytes, file: file)
        diagnostics.add(contentsOf: errors)
        var position = Position.topLevel
        for line in lines {
            switch line.content {
            case .section(let kind, let name):
                position = openSection(kind: kind, name: name, at: line.location)
            case .entry(let key, let value):
                if value.contains(where: { $0 == ";" || $0 == "#" }) { unspacedComments[line.location] = value }
                switch position {
                case .skipped:
                    continue
                case .topLevel:
                    if key == "include" {
                        include(value, at: line.location, depth: depth, chain: chain)
                    } else {
                        diagnostics.add("key \(ConfigText.quoted(key)) is outside any section "
                            + "(put it under [daemon], [service NAME] or [plugin NAME])", at: line.location)
                    }
                case .section(let index):
                    if key == "include" {
                        if case .daemon = sections[index].kind {
                            include(value, at: line.location, depth: depth, chain: chain)
                        } else {
                            diagnostics.add("include is only allowed in [daemon] or at top level",
                                            at: line.location)
                        }
                    } else {
                        sections[index].entries.append(RawEntry(key: key, value: value, location: line.location))
                    }
                }
            }
        }
    }

    private mutating func openSection(kind: String, name: String?, at location: SourceLocation) -> Position {
        let sectionKind: RawSection.Kind
        switch kind {
        case "daemon":
            if let name {
                diagnostics.add("[daemon] takes no name, got \(ConfigText.quoted(name))", at: location)
            }
            sectionKind = .daemon
        case "service", "plugin":
            guard let name else {
                diagnostics.add("[\(kind)] needs a name: [\(kind) NAME]", at: location)
                return .skipped
            }
            sectionKind = kind == "service" ? .service(name: name) : .plugin(name: name)
        default:
            diagnostics.add("unknown section kind \(ConfigText.quoted(kind))"
                + ConfigText.didYouMean(kind, among: Self.sectionKinds)
                + "; expected [daemon], [service NAME] or [plugin NAME]", at: location)
            return .skipped
        }
        sections.append(RawSection(kind: sectionKind, location: location))
        return .section(sections.count - 1)
    }

    private mutating func include(_ value: String, at location: SourceLocation, depth: Int, chain: [(String, String)]) {
        guard !value.isEmpty else {
            diagnostics.add("include needs a path or a glob pattern", at: location)
            return
        }
        guard depth < Self.maximumIncludeDepth else {
            diagnostics.add("include \(ConfigText.quoted(value)) is nested too deeply "
                + "(more than \(Self.maximumIncludeDepth) levels of include)", at: location)
            return
        }
        let directory = ConfigFiles.directory(of: location.file)
        let paths: [String]
        if ConfigFiles.isPattern(value) {
            let pattern = value.hasPrefix("/") ? value
                : ConfigFiles.resolve(value, relativeTo: ConfigFiles.escapeForGlob(directory))
            if let problem = listedDirectoryProblem(pattern, value: value) {
                diagnostics.add(problem, at: location)
                return
            }
            switch ConfigFiles.glob(pattern) {
            case .success(let matches): paths = matches
            case .failure(let failure):
                diagnostics.add(failure.message, at: location)
                return
            }
        } else {
            paths = [ConfigFiles.resolve(value, relativeTo: directory)]
        }
        for path in paths {
            let canonical = ConfigFiles.canonical(path)
            if let start = chain.firstIndex(where: { $0.0 == canonical }) {
                let cycle = chain[start...].map(\.1) + [path]
                diagnostics.add("include cycle: " + cycle.joined(separator: " -> "), at: location)
                continue
            }
            guard files.count < Self.maximumFiles else {
                diagnostics.add("too many config files (more than \(Self.maximumFiles)); \(path) not read", at: location)
                return
            }
            readFile(path, depth: depth + 1, chain: chain, includedBy: (value, location))
        }
    }

    /// Why the directory a glob lists cannot be used, or nil: it must exist (a typo in it would
    /// silently load nothing; no match in an existing directory is fine) and be trusted, since
    /// whoever can add a file there adds configuration.
    private func listedDirectoryProblem(_ pattern: String, value: String) -> String? {
        let directory = ConfigFiles.literalDirectory(ofPattern: pattern)
        let shown = ConfigFiles.absolute(directory)
        let include = "include \(ConfigText.quoted(value))"
        var info = stat()
        guard stat(directory, &info) == 0 else {
            let code = errno
            if code == ENOENT || code == ENOTDIR { return "\(include): the directory \(shown) does not exist" }
            return "\(include): cannot read the directory \(shown): \(String(cString: strerror(code)))"
        }
        guard info.st_mode & S_IFMT == S_IFDIR else { return "\(include): \(shown) is not a directory" }
        return trust.problem(directory: shown, info).map { "refusing \(include): \($0)" }
    }
}
