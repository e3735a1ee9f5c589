// The Prometheus text exposition format, version 0.0.4: metric families, each a HELP and a TYPE
// line followed by its samples, label values and help text escaped as the format requires.

/// A metric family's type, as its TYPE line names it.
enum MetricType: String, Sendable {
    case counter, gauge, histogram
}

/// Builds one exposition. Every sample of a family follows that family's HELP and TYPE lines, so
/// a family is written whole, with all its labelled series, before the next one begins.
struct PrometheusText {
    static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    private(set) var text = ""

    /// The HELP and TYPE lines that open family `name`.
    mutating func family(_ name: String, _ type: MetricType, help: String) {
        text += "# HELP \(name) \(Self.escapeHelp(help))\n# TYPE \(name) \(type.rawValue)\n"
    }

    /// One sample: `name{label="value",…} value`.
    mutating func sample(_ name: String, _ labels: [(String, String)] = [], _ value: String) {
        text += name
        if !labels.isEmpty {
            text += "{" + labels.map { "\($0.0)=\"\(Self.escapeLabel($0.1))\"" }.joined(separator: ",") + "}"
        }
        text += " \(value)\n"
    }

    mutating func sample(_ name: String, _ labels: [(String, String)] = [], _ value: Int64) {
        sample(name, labels, String(value))
    }

    /// A histogram's series for one label set: a `_bucket` per upper bound (cumulative counts, the
    /// last one `+Inf`), then `_sum` and `_count`.
    mutating func histogram(_ name: String, _ labels: [(String, String)], bounds: [Double], cumulative: [Int64],
                            sum: Double, count: Int64) {
        for (index, total) in cumulative.enumerated() {
            let bound = index < bounds.count ? Self.number(bounds[index]) : "+Inf"
            sample(name + "_bucket", labels + [("le", bound)], total)
        }
        sample(name + "_sum", labels, Self.number(sum))
        sample(name + "_count", labels, count)
    }

    /// A label value: backslash, double quote and line feed escaped.
    static func escapeLabel(_ value: String) -> String { escape(value, quotes: true) }

    /// HELP text: backslash and line feed escaped (a double quote stays as it is).
    static func escapeHelp(_ text: String) -> String { escape(text, quotes: false) }

    private static func escape(_ text: String, quotes: Bool) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\"" where quotes: out += "\\\""
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// A float as the format writes it: whole numbers without a fraction (`1`, `60`), others in
    /// Swift's shortest exact form (`0.005`, `1.5e-07`).
    static func number(_ value: Double) -> String {
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        if value.isNaN { return "NaN" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return "\(value)"
    }
}
