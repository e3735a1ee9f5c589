// What the master is doing, as one value driven by events (signals, a check's end, the last worker gone).

/// The master's state. Serving is the rest state; a reload and an upgrade each hold the check they
/// wait for (a descriptor in the master's poll); a stop holds its deadline.
enum MasterState {
    case serving
    /// A reload's plugin check runs; `again` is set when another HUP arrived meanwhile (the file
    /// may have changed since the check read it), which starts one more reload after this one.
    case reloading(PendingConfigCheck, again: Bool)
    /// A binary upgrade's check of the new binary runs.
    case upgrading(UpgradeCheck)
    /// Stopping: nothing starts; the loop ends when the last worker is gone.
    case stopping(graceful: Bool, deadline: ContinuousClock.Instant)

    var isStopping: Bool {
        if case .stopping = self { return true } else { return false }
    }

    /// The descriptor the state waits on besides the signal pipe, with its deadline.
    var pending: (descriptor: Int32, deadline: ContinuousClock.Instant)? {
        switch self {
        case .reloading(let check, _): return (check.descriptor, check.deadline)
        case .upgrading(let check): return (check.descriptor, check.deadline)
        case .serving, .stopping: return nil
        }
    }
}
