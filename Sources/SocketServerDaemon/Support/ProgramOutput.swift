// A program worker's standard output and error, relayed to the daemon's log line by line: read
// without blocking from the master's loop, with a bound on line length, on how much is read per
// turn and on how many lines per second reach the log, so a program cannot flood it or stall
// the master.
#if canImport(Glibc)
import Glibc
#endif
import SocketServer

struct ProgramOutput {
    /// The longest line written as one; a longer one is cut into pieces of this size.
    static let longestLine = 4096
    /// What one turn of the master's loop reads at most from one program.
    static let readPerTurn = 64 * 1024
    /// Lines per second that reach the log (a burst may use up to `burst` at once).
    static let linesPerSecond = 100.0
    static let burst = 500.0

    /// The pipe's read end (non-blocking); -1 once it reached end of file and was closed.
    private(set) var descriptor: Int32
    private var pending: [UInt8] = []
    private var tokens = ProgramOutput.burst
    private var refilled: UInt64
    private var dropped = 0
    private let writeLine: (String) -> Void
    private let clock: () -> UInt64

    /// `writeLine` gets each line (without its newline) and the notes about dropped lines.
    init(descriptor: Int32, clock: @escaping () -> UInt64 = monotonicNanoseconds, writeLine: @escaping (String) -> Void) {
        self.descriptor = descriptor
        self.clock = clock
        self.writeLine = writeLine
        refilled = clock()
    }

    /// Reads what is there (up to `readPerTurn`) and writes the complete lines; at end of file
    /// also the last partial line, and the descriptor is closed.
    mutating func readAvailable() {
        guard descriptor >= 0 else { return }
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        var total = 0
        while total < Self.readPerTurn {
            let count: Int
            do {
                count = try retryingOnInterrupt { read(descriptor, &buffer, buffer.count) }
            } catch {
                if error == .wouldBlock { return }
                count = 0  // a read error ends the relay as end of file does
            }
            if count == 0 {
                finish()
                return
            }
            total += count
            take(buffer[..<count])
        }
    }

    /// Writes what is left (a last line without newline, the count of dropped lines) and closes.
    mutating func finish() {
        if descriptor >= 0 {
            close(descriptor)
            descriptor = -1
        }
        if !pending.isEmpty {
            emit(pending[...])
            pending = []
        }
        reportDropped()
    }

    mutating func take(_ bytes: ArraySlice<UInt8>) {
        pending += bytes
        var start = 0
        while let newline = pending[start...].firstIndex(of: UInt8(ascii: "\n")) {
            var line = pending[start..<newline]
            if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
            emit(line)
            start = newline + 1
        }
        while pending.count - start >= Self.longestLine {
            emit(pending[start..<start + Self.longestLine])
            start += Self.longestLine
        }
        pending.removeFirst(start)
    }

    private mutating func emit(_ line: ArraySlice<UInt8>) {
        var remaining = line
        repeat {
            let piece = remaining.prefix(Self.longestLine)
            remaining = remaining.dropFirst(piece.count)
            guard admit() else {
                dropped += 1
                continue
            }
            reportDropped()
            writeLine(Self.printable(piece))
        } while !remaining.isEmpty
    }

    /// Takes a token from the bucket, refilled at `linesPerSecond` up to `burst`.
    private mutating func admit() -> Bool {
        let now = clock()
        tokens = min(Self.burst, tokens + Double(now &- refilled) / 1e9 * Self.linesPerSecond)
        refilled = now
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }

    private mutating func reportDropped() {
        guard dropped > 0 else { return }
        writeLine("(\(dropped) line\(dropped == 1 ? "" : "s") of output dropped: more than "
                  + "\(Int(Self.linesPerSecond)) lines per second)")
        dropped = 0
    }

    /// The bytes as text, with control characters (ESC, NUL, …) shown as `?`, so that a program
    /// cannot write terminal sequences into the log. Tabs stay.
    static func printable(_ bytes: ArraySlice<UInt8>) -> String {
        let text = String(decoding: bytes, as: UTF8.self)
        guard text.unicodeScalars.contains(where: { $0.value < 0x20 && $0 != "\t" || $0.value == 0x7f }) else { return text }
        return String(String.UnicodeScalarView(text.unicodeScalars.map { $0.value < 0x20 && $0 != "\t" || $0.value == 0x7f ? "?" : $0 }))
    }
}
