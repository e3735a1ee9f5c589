// The run's setup: the checkout, the release binaries, a scratch directory, the C peers and the
// example event plugin compiled there (one peer linked with the Swift runtime), and the Python
// interpreter.
#if canImport(Glibc)
import Glibc
#endif

func findCheckout(from binary: String) -> String? {
    var directory = directoryName(binary)
    while directory != "/" && directory != "." {
        if fileExists(directory + "/Package.swift") && fileExists(directory + "/Tests/Benchmarks") { return directory }
        directory = directoryName(directory)
    }
    var buffer = [CChar](repeating: 0, count: 4096)
    if let cwd = getcwd(&buffer, buffer.count) {
        let path = String(cString: cwd)
        if fileExists(path + "/Tests/Benchmarks") { return path }
    }
    return nil
}

func makeContext() throws -> BenchContext {
    let binary = executablePath()
    let daemon = directoryName(binary) + "/socketserverd"
    guard access(daemon, X_OK) == 0 else {
        throw BenchError("no socketserverd next to \(binary); build it: swift build -c release --scratch-path .build-bench")
    }
    guard let checkout = findCheckout(from: binary) else {
        throw BenchError("cannot find the checkout (Tests/Benchmarks); run from the repository")
    }
    var template = Array("/tmp/socketserverd-bench-XXXXXX".utf8CString)
    guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
        throw BenchError("mkdtemp failed")
    }
    let scratch = String(cString: made)
    chmod(scratch, 0o755)
    var context = BenchContext(benchBinary: binary, daemonBinary: daemon, checkout: checkout, scratch: scratch)

    context.cBinary = scratch + "/c_prefork_epoll_echo"
    context.cForkBinary = scratch + "/c_fork_echo"
    for (binary, source) in [(context.cBinary, "c_prefork_epoll_echo.c"), (context.cForkBinary, "c_fork_echo.c")] {
        let (status, output) = runCommand("cc", ["-O2", "-o", binary, checkout + "/Tests/Benchmarks/" + source])
        guard status == 0 else { throw BenchError("cc -O2 \(source) failed:\n\(output)") }
    }
    context.cForkRuntimeBinary = linkWithSwiftRuntime(checkout + "/Tests/Benchmarks/c_fork_echo.c", like: daemon,
                                                      into: scratch + "/c_fork_echo_swift_runtime")
    // The example event plugin, in a directory only its owner can write to (as the daemon requires).
    let plugins = scratch + "/plugins"
    mkdir(plugins, 0o755)
    chmod(plugins, 0o755)
    context.eventPlugin = plugins + "/libevents.so"
    let (pluginStatus, pluginOutput) = runCommand("cc", ["-O2", "-std=c99", "-shared", "-fPIC", "-I", checkout + "/Sources/CSocketServerPlugin/include",
                                                         "-o", context.eventPlugin, checkout + "/Sources/Examples/plugins/events.c"])
    guard pluginStatus == 0 else { throw BenchError("cc -O2 events.c (the example event plugin) failed:\n\(pluginOutput)") }
    chmod(context.eventPlugin, 0o644)

    // The system's python3 where there is one: the program rows run it as the workers' user (nobody
    // under root), who may not reach an interpreter in a home directory; every Python row uses the same.
    let (pythonStatus, pythonOutput) = access("/usr/bin/python3", X_OK) == 0
        ? (0, "/usr/bin/python3") : runCommand("python3", ["-c", "import sys; print(sys.executable)"])
    let resolved = pythonOutput.split(separator: "\n").first.map(String.init) ?? ""
    guard pythonStatus == 0, resolved.hasPrefix("/") else { throw BenchError("python3 not found:\n\(pythonOutput)") }
    context.python = resolved
    return context
}

/// Compiles `source` with `cc -O2`, linked with every Swift runtime library `binary` loads (as
/// ldd lists them) whether it calls them or not, into `output`; nil (with a note why) if it fails.
/// Forking a process that maps those libraries costs more than forking a bare C process, whatever
/// the process does: this measures that part of socketserverd's `concurrency = fork` alone.
func linkWithSwiftRuntime(_ source: String, like binary: String, into output: String) -> String? {
    let (lddStatus, listing) = runCommand("ldd", [binary])
    let libraries = listing.split(separator: "\n").compactMap { line -> String? in
        let words = line.split(separator: " ")
        guard let arrow = words.firstIndex(of: "=>"), arrow + 1 < words.count else { return nil }
        let path = String(words[arrow + 1])
        return path.contains("/swift/") ? path : nil
    }
    guard lddStatus == 0, let first = libraries.first else {
        progress("   C fork per connection with the Swift runtime: skipped (ldd \(binary) lists no Swift library)")
        return nil
    }
    let (status, text) = runCommand("cc", ["-O2", "-o", output, source, "-Wl,--no-as-needed"] + libraries
                                          + ["-Wl,-rpath," + directoryName(first)])
    guard status == 0 else {
        progress("   C fork per connection with the Swift runtime: skipped (cc failed: \(text))")
        return nil
    }
    return output
}
