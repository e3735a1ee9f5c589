// Sanitizer runs (Tests/Sanitizers/run.sh address|thread, i.e. `swift test --sanitize=…`): the
// socketserverd binary these tests start is then built with the same sanitizer. Its reports would
// go to its stderr, the daemon log, which a passing test never shows; so every process the tests
// spawn writes them to files in one directory instead, and DaemonTestCase.tearDown fails the test
// that was running when one appeared.
import Foundation
import XCTest

public enum Sanitizers {
    /// This test process (and so the daemon built with it) runs under AddressSanitizer.
    public static let address = exported("__asan_init")
    /// This test process (and so the daemon built with it) runs under ThreadSanitizer.
    public static let thread = exported("__tsan_init")

    private static func exported(_ symbol: String) -> Bool {
        guard let me = dlopen(nil, RTLD_NOW) else { return false }
        return dlsym(me, symbol) != nil
    }

    /// Where spawned processes write their reports (`report.PID`); 0777, since the daemon may run
    /// as "nobody".
    public static let reportDirectory: String = {
        let path = (try? makeTemporaryDirectory("ssd-sanitizer")) ?? "/tmp"
        chmod(path, 0o777)
        return path
    }()

    /// The environment spawned processes get on top of their own: the options the test run was
    /// given (so a developer's ASAN_OPTIONS reach the daemon too), then the ones the tests need.
    /// Empty when the tests are not sanitized.
    public static let environment: [String] = {
        guard address || thread else { return [] }
        let inherited = ProcessInfo.processInfo.environment
        let reports = "log_path=\(reportDirectory)/report"
        // handle_segv=0: FaultTests kills a worker with SIGSEGV and PluginReloadTests runs a plugin
        // that dereferences NULL, both on purpose, and check that the master sees a worker "killed by
        // SIGSEGV". A sanitizer's own SEGV handler would print a report and exit(1) instead. Real
        // memory errors are still caught: ASan's checks are instrumented loads and stores, not SEGV.
        let asan = ["handle_segv=0", reports]
        // suppressions: false positives of ThreadSanitizer in the daemon, each with its reason.
        // die_after_fork=0: a worker parks its first thread (runAfterFork), so a request child it
        // forks (concurrency = fork) comes from a process with two threads, one of which holds no
        // lock. TSan cannot know that and by default kills such a child if its handler starts a
        // thread (exec over datagrams does).
        let tsan = ["handle_segv=0", "die_after_fork=0", reports, "suppressions=\(suppressionsDirectory)/tsan.supp"]
        let lsan = ["suppressions=\(suppressionsDirectory)/lsan.supp"]
        func joined(_ name: String, _ ours: [String]) -> String {
            "\(name)=" + ([inherited[name]].compactMap { $0 }.filter { !$0.isEmpty } + ours).joined(separator: ":")
        }
        return [joined("ASAN_OPTIONS", asan), joined("TSAN_OPTIONS", tsan), joined("LSAN_OPTIONS", lsan)]
    }()

    /// Tests/Sanitizers in this checkout.
    static var suppressionsDirectory: String { repositoryRoot + "/Tests/Sanitizers" }

    /// The reports written since the last call (each file's text), removed as they are taken.
    public static func takeReports() -> [String] {
        guard address || thread else { return [] }
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: reportDirectory)) ?? []).sorted()
        return names.compactMap { name in
            let path = reportDirectory + "/" + name
            defer { unlink(path) }
            let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
            return text.isEmpty ? nil : "\(name):\n\(text)"
        }
    }
}
