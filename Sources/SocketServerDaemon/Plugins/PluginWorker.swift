// In a worker, after fork: load the service's plugin and bind its handler, or say why not.
#if canImport(Glibc)
import Glibc
#endif
import SocketServerHandlers

enum PluginWorker {
    /// The descriptor a worker serves `service` with. For a plugin handler this loads the plugin
    /// (the file as it is now: a rebuilt plugin takes effect with the next generation), checks the
    /// service's keys against it and binds the handler. A fault is thrown, naming the plugin and
    /// where it is declared; the worker logs it and exits as a worker that could not start.
    static func descriptor(for service: ServiceConfig, default descriptor: HandlerDescriptor) throws(PluginFault) -> HandlerDescriptor {
        guard let plugin = service.plugin else { return descriptor }
        switch bind(service, plugin) {
        case .success(let bound): return bound
        case .failure(let fault): throw PluginFault("plugin \(ConfigText.quoted(plugin.name)) (\(plugin.location)): \(fault)")
        }
    }

    /// Loads, checks and binds; the descriptor's `validate` has nothing left to check.
    static func bind(_ service: ServiceConfig, _ plugin: PluginConfig) -> Result<HandlerDescriptor, PluginFault> {
        let library: PluginLibrary
        switch PluginLibrary.load(path: plugin.path) {
        case .success(let loaded): library = loaded
        case .failure(let fault): return .failure(fault)
        }
        let handlerName = String(service.handler.drop { $0 != "." }.dropFirst())
        guard let handler = library.handlers.first(where: { $0.name == handlerName }) else {
            return .failure(PluginFault("\(plugin.path) has no handler '\(handlerName)' (any more)"))
        }
        let served = service.listen.isDatagram ? handler.servesDatagrams : handler.servesStreams
        guard served else {
            return .failure(PluginFault("handler '\(handlerName)' cannot serve \(service.listen.isDatagram ? "datagram" : "stream") listeners"))
        }
        let (options, missing, undeclared) = handler.effectiveOptions(service.options)
        if let key = missing.first { return .failure(PluginFault("the required key '\(key)' is not set")) }
        if let key = undeclared.first { return .failure(PluginFault("handler '\(handlerName)' does not declare the key '\(key)'")) }
        if let problem = handler.validate(options).first { return .failure(PluginFault("\(problem.key): \(problem.problem)")) }
        PluginBinding.bind(PluginBinding(handler: handler, serviceName: service.name, handlerName: service.handler,
                                         options: options))
        log.debug("service \(service.name): worker \(getpid()) loaded plugin \(plugin.name) ('\(library.ownName)') from \(plugin.path)")
        let full = handler.descriptor()
        return .success(HandlerDescriptor(name: service.handler, stream: full.stream, datagram: full.datagram, events: full.events))
    }
}
