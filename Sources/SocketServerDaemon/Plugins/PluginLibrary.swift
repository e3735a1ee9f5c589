// Opening a plugin: dlopen, the entry symbol, the ABI version, one Swift runtime, the handler table.
#if canImport(Glibc)
import Glibc
#endif
import CSocketServerPlugin

/// A loaded plugin. Libraries are never closed: handlers may run until the process exits.
struct PluginLibrary {
    /// The plugin's own name (`ssd_plugin.name`), for logs.
    let ownName: String
    let handlers: [PluginHandler]

    /// Loaded images by canonical path: a process opens a file once (dlopen would hand back the
    /// same image anyway, and the entry is documented to run once per process).
    nonisolated(unsafe) private static var opened: [String: PluginLibrary] = [:]

    /// Checks and loads the plugin at `path`. Not thread-safe: called while a process starts up or
    /// checks a configuration, before any handler runs.
    static func load(path: String) -> Result<PluginLibrary, PluginFault> {
        let real: String
        switch PluginFile.check(path) {
        case .success(let resolved): real = resolved
        case .failure(let fault): return .failure(fault)
        }
        if let library = opened[real] { return .success(library) }
        _ = dlerror()
        guard let handle = dlopen(real, RTLD_NOW | RTLD_LOCAL) else {
            let reason = dlerror().map { String(cString: $0) } ?? "unknown error"
            return .failure(PluginFault("cannot load plugin \(path): \(reason)"))
        }
        if let fault = secondSwiftRuntime(handle, path) { return .failure(fault) }
        guard let symbol = dlsym(handle, SSD_PLUGIN_ENTRY_SYMBOL) else {
            return .failure(PluginFault("\(path) does not export the entry symbol \(SSD_PLUGIN_ENTRY_SYMBOL) "
                + "(is it a socketserverd plugin? see socketserverd_plugin.h)"))
        }
        let entry = unsafeBitCast(symbol, to: ssd_plugin_entry_fn.self)
        guard let plugin = entry() else {
            return .failure(PluginFault("\(path): \(SSD_PLUGIN_ENTRY_SYMBOL)() returned NULL"))
        }
        // abi_version first: what else the plugin's struct holds depends on it.
        let version = PluginABIVersion(plugin.pointee.abi_version)
        guard version.isLoadable else {
            return .failure(PluginFault("\(path) is built for plugin ABI version \(version.raw) (\(version)), but this "
                + "socketserverd speaks \(PluginABIVersion.spoken); rebuild it against this socketserverd_plugin.h"))
        }
        let handlers: [PluginHandler]
        switch PluginHandler.table(plugin.pointee, version: version, path: path) {
        case .success(let table): handlers = table
        case .failure(let fault): return .failure(fault)
        }
        let name = plugin.pointee.name.map { PluginText.clean(String(cString: $0)) } ?? "?"
        let library = PluginLibrary(ownName: name, handlers: handlers)
        opened[real] = library
        return .success(library)
    }

    /// Swift plugins must use the daemon's Swift runtime: a second copy (a plugin linked with
    /// -static-stdlib, or a daemon that was) would corrupt both. A C plugin has no runtime at all.
    private static func secondSwiftRuntime(_ handle: UnsafeMutableRawPointer, _ path: String) -> PluginFault? {
        guard let theirs = dlsym(handle, "swift_retain") else { return nil }
        let ours = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "swift_retain")  // RTLD_DEFAULT
        guard theirs != ours else { return nil }
        return PluginFault("\(path) brings its own Swift runtime (linked with -static-stdlib?), or this socketserverd "
            + "has the runtime linked in statically; a Swift plugin must link libswiftCore.so dynamically, as the daemon does")
    }
}

/// Text that came from a plugin, made fit for one log line.
enum PluginText {
    static let limit = 1024

    /// Control characters become spaces; overlong text is cut.
    static func clean(_ text: String) -> String {
        var result = ""
        for scalar in text.unicodeScalars.prefix(limit) {
            let control = scalar.value < 0x20 || scalar.value == 0x7f || (0x80..<0xa0).contains(scalar.value)
            result.unicodeScalars.append(control ? " " : scalar)
        }
        return text.unicodeScalars.count > limit ? result + "…" : result
    }
}
