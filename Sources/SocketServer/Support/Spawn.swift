// Starting a program with posix_spawn: the descriptors it gets, its process group, its signals.
// posix_spawn (vfork and exec in glibc) is safe from a process with threads, where fork and exec
// from Swift would not be.
#if canImport(Glibc)
import Glibc
#endif

/// What a spawned program's descriptors become, done in order before it starts.
public enum SpawnFileAction: Sendable {
    /// `fd` becomes a copy of `source` (dup2; a copy clears close-on-exec).
    case duplicate(_ source: Int32, as: Int32)
    /// `fd` becomes `path` opened with `flags` (and `mode`, for a file it creates).
    case open(_ path: String, flags: Int32, mode: mode_t = 0o644, as: Int32)
    /// Every descriptor from `fd` up is closed (the program sees only what the actions before set).
    case closeFrom(Int32)
    /// The program starts in `path` (chdir; glibc 2.29+, else the spawn fails with ENOSYS).
    case changeDirectory(String)
}

/// Starts `path` with `arguments` (after argv[0], which is `path`) and `environment` as all it
/// sees; returns its pid. `newProcessGroup`: the program leads a group of its own (kill(-pid)
/// reaches it and its jobs). `signalsAtDefault`: no signal blocked and every signal at its
/// default, whatever this process ignores or handles. `searchPath`: `path` without a slash is
/// looked up in PATH. Throws posix_spawn's errno (ENOENT, EACCES, …).
public func spawnProcess(
    _ path: String, arguments: [String], environment: [String], fileActions: [SpawnFileAction] = [],
    newProcessGroup: Bool = false, signalsAtDefault: Bool = false, searchPath: Bool = false
) throws(Errno) -> pid_t {
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var flags: Int32 = 0
    if newProcessGroup {
        posix_spawnattr_setpgroup(&attributes, 0)
        flags |= Int32(POSIX_SPAWN_SETPGROUP)
    }
    if signalsAtDefault {
        var empty = sigset_t()
        sigemptyset(&empty)
        // Every bit set, not sigfillset: that leaves out glibc's two internal signals (32 and 33),
        // which its spawn helper then sets to SIG_IGN in the child, and exec keeps ignored.
        var all = sigset_t()
        memset(&all, 0xff, MemoryLayout<sigset_t>.size)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setsigdefault(&attributes, &all)
        flags |= Int32(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)
    }
    posix_spawnattr_setflags(&attributes, Int16(flags))
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    for action in fileActions {
        let code: Int32
        switch action {
        case .duplicate(let source, let fd): code = posix_spawn_file_actions_adddup2(&actions, source, fd)
        case .open(let file, let flags, let mode, let fd): code = posix_spawn_file_actions_addopen(&actions, fd, file, flags, mode)
        case .closeFrom(let fd): code = addCloseFrom(&actions, fd)
        case .changeDirectory(let path): code = addChangeDirectoryNP.map { $0(&actions, path) } ?? ENOSYS
        }
        if code != 0 { throw Errno(rawValue: code) }
    }
    let argv = ([path] + arguments).map { strdup($0) } + [nil]
    let envp = environment.map { strdup($0) } + [nil]
    defer {
        argv.forEach { free($0) }
        envp.forEach { free($0) }
    }
    var pid: pid_t = 0
    let code = searchPath ? posix_spawnp(&pid, path, &actions, &attributes, argv, envp)
                          : posix_spawn(&pid, path, &actions, &attributes, argv, envp)
    guard code == 0 else { throw Errno(rawValue: code) }
    return pid
}

/// Adds the close of every descriptor from `first` up: `posix_spawn_file_actions_addclosefrom_np`
/// (glibc 2.34+; close_range in the child, so nothing races with this process's other threads).
/// Without it, an explicit close for each descriptor listed in /proc/self/fd that lacks
/// FD_CLOEXEC (those are what the program would inherit; a descriptor opened meanwhile by another
/// thread without FD_CLOEXEC could still slip through).
private func addCloseFrom(_ actions: inout posix_spawn_file_actions_t, _ first: Int32) -> Int32 {
    if let closeFrom = addCloseFromNP, closeFrom(&actions, first) == 0 { return 0 }
    guard let directory = opendir("/proc/self/fd") else { return 0 }
    defer { closedir(directory) }
    let own = dirfd(directory)
    while let entry = readdir(directory) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        guard let fd = Int32(name), fd >= first, fd != own else { continue }
        let flags = fcntl(fd, F_GETFD)
        if flags >= 0 && flags & FD_CLOEXEC == 0 { posix_spawn_file_actions_addclose(&actions, fd) }
    }
    return 0
}

/// A libc function Swift's Glibc module does not declare (it is under _GNU_SOURCE, or newer than
/// the headers Swift was built against), looked up at run time; nil if this libc lacks it.
public func libcFunction<Function>(_ name: String, as type: Function.Type) -> Function? {
    guard let handle = dlopen(nil, RTLD_NOW), let symbol = dlsym(handle, name) else { return nil }
    return unsafeBitCast(symbol, to: type)
}

private typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
/// `int posix_spawn_file_actions_addclosefrom_np(posix_spawn_file_actions_t *, int from)`, glibc 2.34+.
private let addCloseFromNP = libcFunction("posix_spawn_file_actions_addclosefrom_np", as: AddCloseFrom.self)

private typealias AddChangeDirectory = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32
/// `int posix_spawn_file_actions_addchdir_np(posix_spawn_file_actions_t *, const char *path)`, glibc 2.29+.
private let addChangeDirectoryNP = libcFunction("posix_spawn_file_actions_addchdir_np", as: AddChangeDirectory.self)
