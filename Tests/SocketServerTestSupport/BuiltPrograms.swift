// The executables `swift build` (and so `swift test`) builds beside the test bundle: the daemon
// and the README's example programs.
import Foundation

/// The executable `name` in the build directory (found upward from this test bundle), or a path
/// that does not exist when it is not built.
public func builtExecutable(named name: String) -> String {
    var dir = URL(fileURLWithPath: linkTarget("/proc/self/exe") ?? "").deletingLastPathComponent()
    while dir.path != "/" {
        let candidate = dir.appendingPathComponent(name).path
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        dir = dir.deletingLastPathComponent()
    }
    return "\(name)-not-built"
}
