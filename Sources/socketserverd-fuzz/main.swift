// socketserverd-fuzz: libFuzzer targets for the two parsers that read bytes from outside, the
// config loader (a file an administrator, or a package, writes) and the upload handler's header
// (FlatJSON, from any client). Tests/Fuzz/run.sh builds and runs it:
//
//   Tests/Fuzz/run.sh config|upload [seconds]      # coverage-guided, AddressSanitizer on
//
// Built normally (`swift build`), there is no libFuzzer: `socketserverd-fuzz TARGET FILE...` then
// runs each file once through the same entry, so a crashing input can be replayed under a debugger.
#if canImport(Glibc)
import Glibc
#endif
import SocketServerDaemon
import SocketServerHandlers
import CSocketServerFuzz

/// The parser under test; set once, before the first input.
nonisolated(unsafe) var target: (UnsafeBufferPointer<UInt8>) -> Void = { _ in }

let targets: [String: (UnsafeBufferPointer<UInt8>) -> Void] = [
    // Any bytes as a config file in a directory that does not exist (relative includes find
    // nothing). Every outcome but a crash is fine: a config or a list of file:line errors.
    "config": { bytes in
        _ = try? ConfigLoader.parse(bytes: Array(bytes), file: "/nonexistent/socketserverd-fuzz.conf",
                                    catalog: DaemonCatalog(), cpuCount: 2)
    },
    // Any bytes as an upload header: an object or a FlatJSONError, never a crash.
    "upload": { bytes in
        _ = try? FlatJSON.parseObject(Array(bytes))
    },
]

/// The entry libFuzzer calls with each input.
let entry: cssd_fuzz_entry = { data, size in
    target(UnsafeBufferPointer(start: data, count: data == nil ? 0 : size))
    return 0
}

func complain(_ text: String) {
    let line = Array((text + "\n").utf8)
    _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
}

func usage(_ names: [String]) -> Never {
    complain("usage: socketserverd-fuzz \(names.sorted().joined(separator: "|")) "
             + "[libFuzzer options and corpus directories | files to replay]")
    exit(2)
}

let arguments = CommandLine.arguments
guard arguments.count >= 2, let chosen = targets[arguments[1]] else { usage(Array(targets.keys)) }
target = chosen

// With libFuzzer linked in, it takes over (argv without the target's name); without, -1.
var argv: [UnsafeMutablePointer<CChar>?] = ([arguments[0]] + arguments.dropFirst(2)).map { strdup($0) } + [nil]
var argc = Int32(argv.count - 1)
let status = argv.withUnsafeMutableBufferPointer { buffer in
    var pointer: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = buffer.baseAddress
    return cssd_fuzz_run_driver(&argc, &pointer, entry)
}
if status != -1 { exit(status) }

// No libFuzzer: replay the files given.
guard arguments.count >= 3 else { usage(Array(targets.keys)) }
for path in arguments.dropFirst(2) {
    guard let file = fopen(path, "rb") else {
        complain("socketserverd-fuzz: cannot open \(path)")
        exit(1)
    }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let count = fread(&chunk, 1, chunk.count, file)
        if count <= 0 { break }
        bytes += chunk[..<count]
    }
    fclose(file)
    bytes.withUnsafeBufferPointer { target($0) }
    print("\(path): \(bytes.count) bytes, no crash")
}
