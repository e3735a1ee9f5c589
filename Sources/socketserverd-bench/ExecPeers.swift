// The exec peers: programs that run /bin/cat for each connection, as socketserverd's `exec`
// handler does (tcpserver from ucspi-tcp, xinetd, socat), how each is started, and finding them,
// installing the Debian packages when they are missing and the benchmark runs as root.
#if canImport(Glibc)
import Glibc
#endif

enum ExecPeer: Hashable, CaseIterable, CustomStringConvertible {
    case tcpserver, xinetd, socat

    var description: String {
        switch self {
        case .tcpserver: return "tcpserver"
        case .xinetd: return "xinetd"
        case .socat: return "socat"
        }
    }

    /// The Debian package that ships it.
    var package: String {
        switch self {
        case .tcpserver: return "ucspi-tcp"
        case .xinetd: return "xinetd"
        case .socat: return "socat"
        }
    }

    /// Where the package puts the program.
    var candidates: [String] {
        switch self {
        case .tcpserver: return ["/usr/bin/tcpserver", "/usr/local/bin/tcpserver"]
        case .xinetd: return ["/usr/sbin/xinetd", "/usr/local/sbin/xinetd"]
        case .socat: return ["/usr/bin/socat", "/usr/local/bin/socat"]
        }
    }

    var installed: String? { candidates.first { access($0, X_OK) == 0 } }

    /// The command line serving /bin/cat per connection on 127.0.0.1:`port`, with a backlog of 1024
    /// where the program takes one (as socketserverd and the C servers), no name lookups and no
    /// per-connection logging. xinetd's configuration is written into `directory`.
    func arguments(program: String, port: UInt16, directory: String) throws -> [String] {
        switch self {
        case .tcpserver:
            // -q quiet, -R no ident lookup, -H no DNS lookup of the client, -l 0 nor of this host;
            // -c the most children at once (default 40), -b the backlog (default 20).
            return [program, "-q", "-R", "-H", "-l", "0", "-c", "1024", "-b", "1024", "127.0.0.1", "\(port)", "/bin/cat"]
        case .xinetd:
            let config = directory + "/xinetd.conf"
            try writeFile(config, Self.xinetdConfig(port: port, log: directory + "/xinetd.log"))
            return [program, "-dontfork", "-f", config, "-pidfile", directory + "/xinetd.pid"]
        case .socat:
            return [program, "TCP-LISTEN:\(port),bind=127.0.0.1,reuseaddr,fork,backlog=1024", "EXEC:/bin/cat"]
        }
    }

    /// One service running /bin/cat (as root, as the other peers do) for each connection: no limit
    /// on instances, per-source connections or the connection rate (by default xinetd stops a
    /// service for 10 s past 50 connections/s), and nothing logged per connection (no syslog).
    static func xinetdConfig(port: UInt16, log: String) -> String {
        """
        # written by socketserverd-bench: /bin/cat per connection
        defaults
        {
            log_type       = FILE \(log)
            log_on_success =
            log_on_failure =
            instances      = UNLIMITED
            per_source     = UNLIMITED
            cps            = 1000000 1
        }

        service socketserverd-bench-cat
        {
            type           = UNLISTED
            id             = socketserverd-bench-cat
            socket_type    = stream
            protocol       = tcp
            wait           = no
            user           = root
            bind           = 127.0.0.1
            port           = \(port)
            server         = /bin/cat
            flags          = REUSE
            instances      = UNLIMITED
            per_source     = UNLIMITED
            cps            = 1000000 1
        }

        """
    }

    /// The peers' programs: those installed, plus (as root, with apt-get) those installed now.
    /// Returns the programs found and, for each peer left without one, why its row is skipped.
    static func locate(_ wanted: [ExecPeer]) -> (found: [ExecPeer: String], skipped: [ExecPeer: String]) {
        var found: [ExecPeer: String] = [:]
        var missing: [ExecPeer] = []
        for peer in wanted {
            if let path = peer.installed { found[peer] = path } else { missing.append(peer) }
        }
        guard !missing.isEmpty else { return (found, [:]) }
        let packages = missing.map(\.package)
        var reason = ""
        if geteuid() != 0 {
            reason = "not installed (Debian package %@), and only root installs it"
        } else if access("/usr/bin/apt-get", X_OK) != 0 {
            reason = "not installed (package %@), and there is no apt-get to install it"
        } else {
            progress("installing \(packages.joined(separator: " ")) for the exec rows (apt-get install -y --no-install-recommends)")
            let (status, output) = runCommand("/usr/bin/env", ["DEBIAN_FRONTEND=noninteractive", "/usr/bin/apt-get", "install", "-y",
                                                               "--no-install-recommends"] + packages)
            if status != 0 {
                let tail = output.split(separator: "\n").suffix(3).joined(separator: " / ")
                reason = "not installed (package %@): apt-get install failed (status \(status)): \(tail)"
            }
        }
        var skipped: [ExecPeer: String] = [:]
        for peer in missing {
            if let path = peer.installed { found[peer] = path } else {
                skipped[peer] = (reason.isEmpty ? "not installed after apt-get install %@" : reason).replacing("%@", with: peer.package)
            }
        }
        return (found, skipped)
    }
}
