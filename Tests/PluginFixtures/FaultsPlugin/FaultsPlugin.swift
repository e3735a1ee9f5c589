// A test fixture, not shipped: libfaults-fixture.so, a Swift handler plugin that fails on request,
// so the daemon's tests can show what a throwing or trapping Swift handler costs (FaultTests).
// debian/rules leaves out every product whose name ends in "-fixture".
//
//     [plugin faults]
//     path = libfaults-fixture.so
//     [service f]
//     handler = faults.fault
//
// Each line is answered "ok LINE", except "throw" (the handler throws: the request fails, the
// worker lives on) and "trap" (a Swift runtime error, integer overflow: the worker dies).
import SocketServerPlugin

final class FaultOnRequest: PluginStreamHandler {
    override func handle() throws {
        for line in rfile {
            let text = String(decoding: line, as: UTF8.self).trimmingTrailingNewline()
            switch text {
            case "throw":
                throw PluginError("asked to throw")
            case "trap":
                // The count is only known at run time, so this is a real overflow check that traps.
                let huge = Int.max - 3
                try wfile.write("\(huge + text.utf8.count)\n")
            default:
                try wfile.write("ok \(text)\n")
            }
        }
    }
}

extension String {
    fileprivate func trimmingTrailingNewline() -> String {
        var text = self
        while let last = text.last, last == "\n" || last == "\r" { text.removeLast() }
        return text
    }
}

@_cdecl("socketserverd_plugin_entry")
public func socketserverdPluginEntry() -> UnsafeRawPointer {
    exportPlugin("faults", [.stream("fault", FaultOnRequest.self)])
}
