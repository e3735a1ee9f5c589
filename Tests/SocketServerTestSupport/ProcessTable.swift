// What /proc tells about processes: parents and children, command lines, the fields of
// /proc/PID/status, states, pending signals, resource counts.
import Glibc

/// Pids of every process now.
public func allPIDs() -> [pid_t] { directoryEntries("/proc").compactMap { pid_t($0) } }

/// The fields after "(comm)" in /proc/PID/stat: state, ppid, pgrp, … (nil if `pid` is gone).
public func statFields(_ pid: pid_t) -> [Substring]? {
    guard let stat = readFile("/proc/\(pid)/stat"), let close = stat.lastIndex(of: ")") else { return nil }
    return stat[stat.index(after: close)...].split(separator: " ")
}

public func parentPID(of pid: pid_t) -> pid_t? {
    statFields(pid).flatMap { $0.count > 1 ? pid_t($0[1]) : nil }
}

/// Pids whose parent is `parent` (this process by default), sorted.
public func childPIDs(of parent: pid_t = getpid()) -> [pid_t] {
    allPIDs().filter { parentPID(of: $0) == parent }.sorted()
}

/// Children of this process that have exited but were not reaped (state Z).
public func zombieChildren() -> [pid_t] {
    let me = getpid()
    return allPIDs().filter { pid in
        guard let fields = statFields(pid), fields.count > 1 else { return false }
        return pid_t(fields[1]) == me && fields[0] == "Z"
    }
}

/// Alive and neither stopped nor a zombie (the state letter in /proc/PID/stat).
public func isRunning(_ pid: pid_t) -> Bool {
    guard let state = statFields(pid)?.first else { return false }
    return ["R", "S", "D"].contains(state)
}

/// utime + stime of a process, in clock ticks.
public func cpuTicks(_ pid: pid_t) -> Int {
    guard let fields = statFields(pid), fields.count > 12 else { return 0 }
    return (Int(fields[11]) ?? 0) + (Int(fields[12]) ?? 0)
}

/// /proc/PID/cmdline as ps shows it: the NUL-separated strings joined by spaces, empty ones
/// (padding) left out.
public func commandLine(of pid: pid_t) -> String {
    nulSeparated(readBytes("/proc/\(pid)/cmdline") ?? []).joined(separator: " ")
}

/// /proc/PID/comm without its newline (what pgrep matches).
public func processName(of pid: pid_t) -> String {
    String(readText("/proc/\(pid)/comm").prefix { $0 != "\n" })
}

/// The NUL-terminated strings in `bytes`, empty ones left out.
public func nulSeparated(_ bytes: [UInt8]) -> [String] {
    bytes.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
}

/// True if a process's command line contains `text`.
public func processExists(matching text: String) -> Bool {
    allPIDs().contains { commandLine(of: $0).contains(text) }
}

/// `Key: value` lines of /proc/PID/status (values with tabs as the kernel writes them).
public func processStatus(_ pid: pid_t) -> [String: String] {
    statusFields(readText("/proc/\(pid)/status"))
}

/// `Key: value` lines as a dictionary, values trimmed of surrounding blanks.
public func statusFields(_ text: String) -> [String: String] {
    var fields: [String: String] = [:]
    for line in text.split(separator: "\n") {
        guard let colon = line.firstIndex(of: ":") else { continue }
        let value = line[line.index(after: colon)...].drop { $0 == " " || $0 == "\t" }
        fields[String(line[..<colon])] = String(value.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }
    return fields
}

/// The `Threads:` count of process `pid` (this process by default).
public func threadCount(of pid: pid_t? = nil) -> Int {
    guard let pid else { return directoryEntries("/proc/self/task").count }
    return Int(processStatus(pid)["Threads"] ?? "") ?? 0
}

/// VmRSS in KiB.
public func residentKiB(_ pid: pid_t) -> Int {
    Int(processStatus(pid)["VmRSS"]?.split(separator: " ").first ?? "") ?? 0
}

/// True if `signal` is pending for `pid` (in ShdPnd or SigPnd of /proc/PID/status).
public func isPending(_ signal: Int32, in pid: pid_t) -> Bool {
    let status = processStatus(pid)
    let bit = UInt64(1) << UInt64(signal - 1)
    return ["ShdPnd", "SigPnd"].contains { UInt64(status[$0] ?? "", radix: 16).map { $0 & bit != 0 } ?? false }
}

/// The files process `pid` has mapped (/proc/PID/maps).
public func mappedFiles(_ pid: pid_t) -> Set<String> {
    Set(readText("/proc/\(pid)/maps").split(separator: "\n").compactMap { line in
        line.split(separator: " ", omittingEmptySubsequences: true).dropFirst(5).first.map(String.init)
    })
}
