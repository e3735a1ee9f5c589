// The worker settings of a service: workers, concurrency, threads, recycling, timeouts, allow, mode.

extension ServiceValidation {
    struct Settings {
        var workers: Int
        var concurrency: ConcurrencyKind = .threads
        var threads = 32
        var maxRequests = 0
        var idleTimeout: Duration? = .seconds(30)
        var requestTimeout: Duration? = nil
        var allow: [AddressRange] = []
        var socketMode: UInt32? = nil
        var socketOwner: SocketOwner? = nil

        mutating func read(_ keys: SectionKeys, listen: ListenAddress?, diagnostics: inout Diagnostics) {
            func report<T>(_ result: Result<T, ConfigValues.Problem>, _ entry: RawEntry) -> T? {
                switch result {
                case .success(let value): return value
                case .failure(let problem):
                    diagnostics.add(problem.message, at: entry.location)
                    return nil
                }
            }
            if let entry = keys["workers"],
               let value = report(ConfigValues.integer(entry.value, key: entry.key, in: workerRange), entry) {
                workers = value
            }
            if let entry = keys["threads"],
               let value = report(ConfigValues.integer(entry.value, key: entry.key, in: threadRange), entry) {
                threads = value
            }
            if let entry = keys["max_requests"],
               let value = report(ConfigValues.integer(entry.value, key: entry.key, in: 0...1_000_000_000), entry) {
                maxRequests = value
            }
            if let entry = keys["timeout"],
               let value = report(ConfigValues.seconds(entry.value, key: entry.key), entry) {
                idleTimeout = value == .zero ? nil : value
            }
            if let entry = keys["request_timeout"],
               let value = report(ConfigValues.seconds(entry.value, key: entry.key), entry) {
                requestTimeout = value == .zero ? nil : value
            }
            if let entry = keys["concurrency"] {
                if let kind = ConcurrencyKind(rawValue: entry.value) {
                    concurrency = kind
                } else {
                    let names = ConcurrencyKind.allCases.map(\.rawValue)
                    diagnostics.add("unknown concurrency \(ConfigText.quoted(entry.value)) (expected "
                        + ConfigText.list(names) + ")" + ConfigText.didYouMean(entry.value, among: names),
                        at: entry.location)
                }
            }
            let isUnix: Bool? = listen.map { $0.address.family == .unix }
            if let entry = keys["allow"] {
                switch ConfigValues.addressRanges(entry.value, key: entry.key) {
                case .success(let ranges): allow = ranges
                case .failure(let problems):
                    for problem in problems.list { diagnostics.add(problem.message, at: entry.location) }
                }
                if isUnix == true {
                    diagnostics.add("allow applies only to tcp:// and udp:// listeners (unix clients have no address)",
                                    at: entry.location)
                }
            }
            if let entry = keys["socket_owner"] {
                let parts = entry.value.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
                if parts.count > 2 || parts[0].isEmpty || (parts.count == 2 && parts[1].isEmpty) {
                    diagnostics.add("socket_owner must be USER or USER:GROUP, got \(ConfigText.quoted(entry.value))", at: entry.location)
                } else if !Accounts.userExists(parts[0]) {
                    diagnostics.add("socket_owner: user \(ConfigText.quoted(parts[0])) does not exist", at: entry.location)
                } else if parts.count == 2, !Accounts.groupExists(parts[1]) {
                    diagnostics.add("socket_owner: group \(ConfigText.quoted(parts[1])) does not exist", at: entry.location)
                } else {
                    socketOwner = SocketOwner(user: parts[0], group: parts.count == 2 ? parts[1] : nil)
                }
                if isUnix == false {
                    diagnostics.add("socket_owner applies only to unix: and unixgram: listeners", at: entry.location)
                }
            }
            if let entry = keys["socket_mode"] {
                socketMode = report(ConfigValues.fileMode(entry.value, key: entry.key), entry)
                if isUnix == false {
                    diagnostics.add("socket_mode applies only to unix: and unixgram: listeners", at: entry.location)
                }
            }
        }
    }
}
