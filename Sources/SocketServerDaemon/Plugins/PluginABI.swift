// The plugin ABI's versions (socketserverd_plugin.h): which ones the daemon loads, and how a
// plugin's handler table is read with the layout of the version it was built for.
import CSocketServerPlugin

/// A plugin's `abi_version`: the major version in the low 16 bits, the minor in the high 16 (ABI
/// 1.0's value 1 is 1.0).
struct PluginABIVersion: Equatable, CustomStringConvertible {
    let major: UInt32
    let minor: UInt32

    init(major: UInt32, minor: UInt32) {
        self.major = major
        self.minor = minor
    }

    init(_ raw: UInt32) {
        major = raw & 0xffff
        minor = raw >> 16
    }

    /// The version this daemon speaks (the header it is built with): it loads this major, minors up to this one.
    static let daemon = PluginABIVersion(major: UInt32(SSD_PLUGIN_ABI_MAJOR), minor: UInt32(SSD_PLUGIN_ABI_MINOR))
    /// The minor version that added `ssd_handler.events`.
    static let eventsMinor: UInt32 = 1

    var raw: UInt32 { major | minor << 16 }
    var description: String { "\(major).\(minor)" }

    /// Whether this daemon loads a plugin built for this version.
    var isLoadable: Bool { major == Self.daemon.major && minor <= Self.daemon.minor }

    /// The daemon's versions, for messages: "1.0 to 1.1".
    static var spoken: String {
        daemon.minor == 0 ? "\(daemon)" : "\(daemon.major).0 to \(daemon)"
    }

    var hasEvents: Bool { minor >= Self.eventsMinor }

    /// The size of one `ssd_handler` as this version lays it out: 1.0's entry ends where 1.1's
    /// `events` field begins (abi_checks.c asserts it).
    var handlerStride: Int {
        hasEvents ? MemoryLayout<ssd_handler>.stride : MemoryLayout<ssd_handler>.offset(of: \.events)!
    }
}

/// One entry of a plugin's handler table, read field by field, only the fields its version has.
struct PluginTableEntry: @unchecked Sendable {
    let name: UnsafePointer<CChar>?
    let keys: UnsafePointer<ssd_key>?
    let keyCount: Int
    let validate: ssd_validate_fn?
    let stream: ssd_stream_fn?
    let datagram: ssd_datagram_fn?
    let data: UnsafeMutableRawPointer?
    /// nil for a 1.0 plugin, whatever follows its entry in memory.
    let events: UnsafePointer<ssd_events>?

    /// Entry `index` of the table at `base`, laid out as `version` says.
    init(table base: UnsafeRawPointer, index: Int, version: PluginABIVersion) {
        let entry = base + index * version.handlerStride
        func field<T>(_ path: KeyPath<ssd_handler, T>, as type: T.Type) -> T {
            entry.load(fromByteOffset: MemoryLayout<ssd_handler>.offset(of: path)!, as: T.self)
        }
        name = field(\.name, as: UnsafePointer<CChar>?.self)
        keys = field(\.keys, as: UnsafePointer<ssd_key>?.self)
        keyCount = field(\.key_count, as: Int.self)
        validate = field(\.validate, as: ssd_validate_fn?.self)
        stream = field(\.stream, as: ssd_stream_fn?.self)
        datagram = field(\.datagram, as: ssd_datagram_fn?.self)
        data = field(\.data, as: UnsafeMutableRawPointer?.self)
        events = version.hasEvents ? field(\.events, as: UnsafePointer<ssd_events>?.self) : nil
    }
}
