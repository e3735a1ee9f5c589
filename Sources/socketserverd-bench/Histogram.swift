// A latency histogram: log-linear buckets (64 per power of two, under 1.6% error), no allocation per sample.

struct Histogram {
    static let subBits = 6
    static let subCount = 1 << subBits
    static let bucketCount = (64 - subBits + 1) * subCount

    private(set) var counts: [UInt64] = Array(repeating: 0, count: Histogram.bucketCount)
    private(set) var total: UInt64 = 0
    private(set) var sum: UInt64 = 0
    private(set) var maximum: UInt64 = 0

    @inline(__always)
    static func index(_ value: UInt64) -> Int {
        if value < UInt64(subCount) { return Int(value) }
        let msb = 63 - value.leadingZeroBitCount
        let shift = msb - subBits
        let sub = Int((value >> UInt64(shift)) & UInt64(subCount - 1))
        return (shift + 1) * subCount + sub
    }

    /// The smallest value of bucket `index`.
    static func lowerBound(_ index: Int) -> UInt64 {
        let bucket = index / subCount, sub = index % subCount
        if bucket == 0 { return UInt64(sub) }
        return UInt64(subCount + sub) << UInt64(bucket - 1)
    }

    @inline(__always)
    mutating func record(_ value: UInt64) {
        counts.withUnsafeMutableBufferPointer { $0[Histogram.index(value)] &+= 1 }
        total &+= 1
        sum &+= value
        if value > maximum { maximum = value }
    }

    mutating func merge(_ other: Histogram) {
        for index in 0..<counts.count { counts[index] += other.counts[index] }
        total += other.total
        sum += other.sum
        maximum = max(maximum, other.maximum)
    }

    /// The value at `quantile` (0…1): the middle of its bucket, never above the maximum seen.
    func value(at quantile: Double) -> UInt64 {
        guard total > 0 else { return 0 }
        let rank = max(1, UInt64((Double(total) * quantile).rounded(.up)))
        var seen: UInt64 = 0
        for (index, count) in counts.enumerated() where count > 0 {
            seen += count
            if seen >= rank {
                let low = Histogram.lowerBound(index)
                let high = Histogram.lowerBound(index + 1)
                return min(maximum, low + (high - low) / 2)
            }
        }
        return maximum
    }

    var mean: UInt64 { total == 0 ? 0 : sum / total }
}
