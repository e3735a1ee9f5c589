// The test process as a subreaper: workers whose master died are re-parented to it, and it reaps
// them, so that no process a test started outlives the test.
import CSocketServerShims
import Glibc

public enum ChildReaping {
    /// This process adopts orphans (workers of a killed master) so it can reap them.
    public static let becomeSubreaper: Void = { _ = cssd_set_child_subreaper(1) }()

    /// Waits up to `limit` for every child (adopted ones too) to exit and reaps them; then kills
    /// and reaps what is left.
    public static func reapAll(within limit: Duration = .seconds(5)) {
        var status: Int32 = 0
        let drained = eventually(within: limit, every: .milliseconds(10)) {
            while true {
                let pid = waitpid(-1, &status, WNOHANG)
                if pid > 0 { continue }
                return pid < 0 && errno != EINTR  // ECHILD: no children left
            }
        }
        guard !drained else { return }
        for child in childPIDs() { kill(child, SIGKILL) }
        while waitpid(-1, &status, 0) > 0 || errno == EINTR {}
    }

    /// Reaps children that have ended, leaving `sparing` (running daemons, whose statuses their
    /// wrappers collect) alone.
    public static func reapEnded(sparing: [pid_t]) {
        for pid in childPIDs() where !sparing.contains(pid) {
            var status: Int32 = 0
            _ = waitpid(pid, &status, WNOHANG)
        }
    }

    /// Waits until each of `pids` (children of this process) has exited, reaping them; those still
    /// running after `limit`.
    public static func waitForExit(of pids: [pid_t], within limit: Duration) -> [pid_t] {
        var remaining = pids
        eventually(within: limit, every: .milliseconds(10)) {
            var status: Int32 = 0
            remaining = remaining.filter { waitpid($0, &status, WNOHANG) == 0 }
            return remaining.isEmpty
        }
        return remaining
    }
}
