// Process titles, so that ps tells the master and each worker apart (as with nginx and gunicorn).
import CSocketServerShims

enum ProcessTitle {
    /// Shows `title` as the process's command line (/proc/PID/cmdline, ps). The process name
    /// (/proc/PID/comm, what pgrep and top show by default) stays "socketserverd". A title longer
    /// than the space the process started with is cut to fit.
    static func set(_ title: String) {
        _ = cssd_set_process_title(title)
    }

    /// "socketserverd: master --config FILE": the role, then the arguments the daemon started with.
    static var master: String {
        (["socketserverd: master"] + originalArguments.dropFirst()).joined(separator: " ")
    }

    /// "socketserverd: worker SERVICE (generation N)".
    static func worker(service: String, generation: Int) -> String {
        "socketserverd: worker \(service) (generation \(generation))"
    }

    /// "socketserverd: metrics (generation N)".
    static func metrics(generation: Int) -> String {
        "socketserverd: metrics (generation \(generation))"
    }

    /// The command line the process started with, program name first (a title does not change it).
    static var originalArguments: [String] {
        (0..<cssd_original_argc()).compactMap { index in cssd_original_argv(index).map { String(cString: $0) } }
    }
}
