// One [service NAME] section: its listener, handler, worker settings and handler options.
import SocketServerHandlers

/// A service's keys are ServiceKeys' rows and its handler's; `listen` and `handler` are read first,
/// since they decide which keys apply and which exist.
enum ServiceValidation {
    struct Outcome {
        /// The service, or nil if the section has errors.
        var service: ServiceConfig?
        /// The listener and its line, when it parsed (for conflict checks even when other keys are bad).
        var listen: (address: ListenAddress, location: SourceLocation)?
    }

    static func validate(_ section: RawSection, name: String, handlers: ServiceHandlers, cpuCount: Int,
                         diagnostics: inout Diagnostics) -> Outcome {
        let errorsBefore = diagnostics.errors.count
        let keys = SectionKeys(section.entries, diagnostics: &diagnostics)
        let here = section.location
        let service = "service \(ConfigText.quoted(name))"

        // The listener.
        var listen: ListenAddress? = nil
        if let entry = keys["listen"] {
            do {
                listen = try ListenAddressParser.parse(entry.value)
            } catch {
                diagnostics.add(error.message, at: entry.location)
            }
        } else {
            diagnostics.add("\(service) is missing the required key 'listen'", at: here)
        }

        // The handler, and whether it serves this kind of listener.
        var descriptor: HandlerDescriptor? = nil
        // A plugin handler: its plugin; `deferred` when this process does not load it (the master).
        var plugin: PluginConfig? = nil
        var deferred = false
        if let entry = keys["handler"] {
            switch handlers.lookup(entry.value, at: entry.location, diagnostics: &diagnostics) {
            case .found(let found, let from):
                descriptor = found
                plugin = from
                if let listen { checkKind(found, listen, at: entry.location, diagnostics: &diagnostics) }
            case .deferred(let from):
                plugin = from
                deferred = true
            case .unavailable:
                break
            }
        } else {
            diagnostics.add("\(service) is missing the required key 'handler'", at: here)
        }

        // Keys neither common nor the handler's; checked only when the handler is known (an unknown
        // handler might accept them).
        if let descriptor {
            let handlerKeys = descriptor.keys.keys.sorted()
            let hint = handlerKeys.isEmpty
                ? " (handler '\(descriptor.name)' takes no extra keys)"
                : " (handler '\(descriptor.name)' accepts: \(handlerKeys.joined(separator: ", ")))"
            keys.reportUnknown(known: ServiceKeys.names + handlerKeys, hint: hint, diagnostics: &diagnostics)
        }

        // Without a listener the section has an error and `config` is only where the other keys'
        // values go while they are checked; it is not returned.
        let workers = ServiceKeys.workerRange
        var config = ServiceConfig(name: name, listen: listen ?? .unix(path: ""),
                                   handler: descriptor?.name ?? keys["handler"]?.value ?? "",
                                   workers: min(max(cpuCount, workers.lowerBound), workers.upperBound), location: here)
        keys.apply(ServiceKeys.rows, to: &config, context: KeyContext(listen: listen), diagnostics: &diagnostics)
        if descriptor?.runsProgram == true {
            for name in ServiceKeys.notForPrograms {
                guard let entry = keys[name] else { continue }
                diagnostics.add("\(name) does not apply to handler 'program' (the program serves its clients itself)",
                                at: entry.location)
            }
        }
        if config.concurrency == .events, let entry = keys["concurrency"] {
            checkEvents(descriptor, listen, catalog: handlers.catalog, at: entry.location, diagnostics: &diagnostics)
        }

        var options: [String: String] = [:]
        if let descriptor {
            options = handlerOptions(descriptor, keys, service: service, at: here, diagnostics: &diagnostics)
        } else if deferred {
            // Checked by the process that loaded the plugin; the worker fills in its defaults.
            for entry in keys.ordered where !ServiceKeys.names.contains(entry.key) { options[entry.key] = entry.value }
        }

        var outcome = Outcome()
        if let listen, let entry = keys["listen"] { outcome.listen = (listen, entry.location) }
        guard diagnostics.errors.count == errorsBefore, listen != nil, keys["handler"] != nil,
              descriptor != nil || deferred else { return outcome }
        config.plugin = plugin
        config.options = options
        outcome.service = config
        return outcome
    }

    private static func checkKind(_ descriptor: HandlerDescriptor, _ listen: ListenAddress, at location: SourceLocation,
                                  diagnostics: inout Diagnostics) {
        let served = listen.isDatagram ? descriptor.datagram : descriptor.stream
        guard served == nil, !descriptor.runsProgram else { return }
        let kind = listen.isDatagram ? "datagram" : "stream"
        let other = descriptor.stream != nil || descriptor.datagram != nil
            ? "; it serves \(listen.isDatagram ? "stream" : "datagram") listeners only" : ""
        diagnostics.add("handler '\(descriptor.name)' cannot serve \(kind) listeners like \(listen)\(other)",
                        at: location)
    }

    /// `concurrency = events` needs a stream listener and a handler with an event-driven variant
    /// (a plugin handler has one when it gives event callbacks, ABI 1.1). A deferred plugin
    /// handler (the master) is checked by the process that loads the plugin.
    private static func checkEvents(_ descriptor: HandlerDescriptor?, _ listen: ListenAddress?, catalog: any HandlerCatalog,
                                    at location: SourceLocation, diagnostics: inout Diagnostics) {
        if let listen, listen.isDatagram {
            diagnostics.add("concurrency 'events' serves stream listeners only (tcp://, unix:), not \(listen); "
                + "use sync, threads or fork", at: location)
            return
        }
        guard let descriptor, descriptor.events == nil else { return }
        let name = descriptor.name
        if name.contains(".") {
            diagnostics.add("plugin handler '\(name)' has no event callbacks, so it cannot serve concurrency 'events' "
                + "(it supports sync, threads and fork); an event-driven plugin handler sets ssd_handler.events "
                + "(plugin ABI 1.1)", at: location)
            return
        }
        let eventHandlers = catalog.names.filter { catalog.descriptor(named: $0)?.events != nil }
        diagnostics.add("handler '\(name)' does not support concurrency 'events' (it supports sync, threads and fork)"
            + (eventHandlers.isEmpty ? "" : "; handlers that do: \(eventHandlers.joined(separator: ", "))"), at: location)
    }

    /// The handler's keys: defaults filled in, required ones present, values checked by the handler.
    private static func handlerOptions(_ descriptor: HandlerDescriptor, _ keys: SectionKeys, service: String,
                                       at here: SourceLocation, diagnostics: inout Diagnostics) -> [String: String] {
        var options: [String: String] = [:]
        var missing: [String] = []
        for (key, defaultValue) in descriptor.keys {
            if let entry = keys[key] {
                options[key] = entry.value
            } else if let defaultValue {
                options[key] = defaultValue
            } else {
                missing.append(key)
            }
        }
        for key in missing.sorted() {
            diagnostics.add("\(service) is missing the key \(ConfigText.quoted(key)), "
                + "which handler '\(descriptor.name)' requires", at: here)
        }
        // The handler's own checks assume its required keys are there.
        guard missing.isEmpty else { return options }
        for (key, problem) in descriptor.validate(options) {
            diagnostics.add("\(key): \(problem)", at: keys[key]?.location ?? here)
        }
        return options
    }
}
