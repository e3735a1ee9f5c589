// The load generator (`socketserverd-bench --load …`): a separate process that drives N echo clients
// over loopback with one epoll loop per thread, non-blocking sockets, preallocated buffers and no
// allocation per request. It prints one RESULT line that the benchmark parses.
#if canImport(Glibc)
import Glibc
#endif
import CSocketServerBench
import CSocketServerShims
import SocketServer
import Synchronization

/// Set by SIGTERM/SIGINT in load mode: every thread stops at its next loop turn.
let loadStopRequested = Atomic<Bool>(false)
/// Requests completed by all threads (only kept when a request limit is set).
let loadCompletedTotal = Atomic<Int>(0)

/// A thread body boxed for pthread_create.
private final class ThreadBox {
    let body: () -> Void
    init(_ body: @escaping () -> Void) { self.body = body }
}

func startThread(_ body: @escaping () -> Void) -> pthread_t {
    var thread = pthread_t()
    let box = Unmanaged.passRetained(ThreadBox(body)).toOpaque()
    let code = pthread_create(&thread, nil, { raw in
        Unmanaged<ThreadBox>.fromOpaque(raw!).takeRetainedValue().body()
        return nil
    }, box)
    precondition(code == 0, "pthread_create failed: \(code)")
    return thread
}

/// Writes a line to stdout at once (the parent reads it through a pipe).
func emit(_ line: String) {
    try? writeAll(1, Array((line + "\n").utf8))
}

/// Load mode: runs `spec` and prints `MEASURE` when the measured window starts and one `RESULT` line.
func runLoad(_ spec: LoadSpec) -> Int32 {
    // If the benchmark dies, so does its load.
    _ = cssd_set_parent_death_signal(SIGTERM)
    signal(SIGPIPE, SIG_IGN)
    signal(SIGTERM) { _ in loadStopRequested.store(true, ordering: .relaxed) }
    signal(SIGINT) { _ in loadStopRequested.store(true, ordering: .relaxed) }
    var limit = rlimit()
    getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    if limit.rlim_cur < limit.rlim_max {
        limit.rlim_cur = limit.rlim_max
        setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    }

    // The request: `size` bytes of printable text ending in a newline (a line for the Python peers).
    let payload = UnsafeMutableRawBufferPointer.allocate(byteCount: spec.size, alignment: 16)
    defer { payload.deallocate() }
    for index in 0..<spec.size { payload[index] = UInt8(ascii: "a") + UInt8(index % 26) }
    payload[spec.size - 1] = UInt8(ascii: "\n")

    let threadCount = spec.threads > 0 ? min(spec.threads, spec.clients) : min(2, spec.clients)
    let start = monotonicNanoseconds()
    let measureStart = start + UInt64(spec.warmup * 1e9)
    let end = spec.duration > 0 ? measureStart + UInt64(spec.duration * 1e9) : UInt64.max
    var loads: [LoadThread] = []
    for index in 0..<threadCount {
        let share = spec.clients / threadCount + (index < spec.clients % threadCount ? 1 : 0)
        loads.append(LoadThread(spec: spec, threadIndex: index, clientCount: share, payload: UnsafeRawBufferPointer(payload),
                                measureStart: measureStart, end: end))
    }
    var usageBefore = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usageBefore)
    let threads = loads.map { load in startThread { load.run() } }
    // Tell the parent when the measured window opens (it samples the server's CPU time then).
    while monotonicNanoseconds() < measureStart, !loadStopRequested.load(ordering: .relaxed) {
        usleep(1000)
    }
    let measuredFrom = monotonicNanoseconds()
    var usageAtMeasure = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usageAtMeasure)
    emit("MEASURE")
    for thread in threads { pthread_join(thread, nil) }
    let finished = monotonicNanoseconds()
    var usage = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
    func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
    let cpu = seconds(usage.ru_utime) + seconds(usage.ru_stime) - seconds(usageBefore.ru_utime) - seconds(usageBefore.ru_stime)
    let cpuMeasured = seconds(usage.ru_utime) + seconds(usage.ru_stime) - seconds(usageAtMeasure.ru_utime) - seconds(usageAtMeasure.ru_stime)

    var total = LoadCounters()
    for load in loads { total.merge(load.counters) }
    let elapsed = Double(finished - max(measuredFrom, measureStart)) / 1e9
    let h = total.histogram
    emit("RESULT requests=\(total.completed) seconds=\(elapsed) \(total.failures.resultFields) "
         + "connections=\(total.connections) p50=\(h.value(at: 0.5)) p90=\(h.value(at: 0.9)) p99=\(h.value(at: 0.99)) "
         + "p999=\(h.value(at: 0.999)) max=\(h.maximum) mean=\(h.mean) cpu=\(cpu) cpu_measured=\(cpuMeasured)")
    return 0
}
