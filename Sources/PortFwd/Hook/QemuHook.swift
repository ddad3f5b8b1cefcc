import Foundation

/// libvirt's qemu hook: `hook qemu GUEST OP SUBOP EXTRA` with the domain XML on stdin.
///
/// Rules of the road (libvirt docs/hooks.rst): a non-zero exit from prepare/start aborts the
/// start and shows our stderr; from reconnect it kills the running guest, so reconnect never
/// fails; migrate/restore treat stdout as replacement XML, so nothing is ever printed; calling
/// libvirt from here deadlocks, so everything comes from stdin and libvirt's files.
public struct QemuHook: Sendable {
    public typealias BackendFactory = @Sendable () -> (selected: FirewallBackend, retired: [FirewallBackend])

    public let config: Config
    public let store: StateStore
    public let discovery: AddressDiscovery
    public let log: HookLog
    /// Called only when something is to be applied: choosing a backend probes the kernel,
    /// and a guest without forwards must not touch it.
    public let backends: BackendFactory

    public init(config: Config, store: StateStore, discovery: AddressDiscovery, log: HookLog, backends: @escaping BackendFactory) {
        self.config = config
        self.store = store
        self.discovery = discovery
        self.log = log
        self.backends = backends
    }

    private func plan(extra: [RunningGuest] = []) throws(PlanError) -> Plan {
        try Reconciler.plan(config: config, store: store, all: false, extra: extra).plan
    }

    /// Handles one event and returns the exit status for libvirt.
    public func handle(guest: String, operation: String, subOperation: String, xml: Data) -> Int32 {
        let started = Date()
        switch operation {
        case "prepare":
            return strict(guest, operation, xml, started) { domain in
                guard let running = try resolve(domain) else { return 0 }
                _ = try plan(extra: [running])
                return running.forwardCount(config)
            }
        case "start":
            return strict(guest, operation, xml, started) { domain in
                guard let running = try resolve(domain) else { return 0 }
                return try store.withLock {
                    try store.save(running)
                    do {
                        try install(try plan())
                    } catch {
                        // The guest will not start: forget it, so state matches the kernel again.
                        try? store.remove(running.uuid)
                        throw error
                    }
                    return running.forwardCount(config)
                }
            }
        case "stopped", "release":
            return lenient(guest, operation, xml, started) { domain in try forget(domain.uuid) }
        case "reconnect", "attach":
            return lenient(guest, operation, xml, started) { domain in
                let running: RunningGuest?
                do { running = try resolve(domain) } catch {
                    // Keep whatever the record says and re-apply it: healing beats forgetting.
                    log.error("guest \(guest) \(operation): \(error); keeping its recorded forwards")
                    return try reapply()
                }
                guard let running else { return try forget(domain.uuid) }
                return try store.withLock {
                    try store.save(running)
                    try install(try plan())
                    return running.forwardCount(config)
                }
            }
        default:
            // started, migrate, restore and operations of future libvirt releases: nothing to do.
            return 0
        }
    }

    /// The guest's forwards and addresses, or nil when it has no forwards at all.
    func resolve(_ domain: Domain) throws -> RunningGuest? {
        let entry = config.guest(named: domain.name, uuid: domain.uuid)
        let metadata = config.settings.metadata ? domain.metadata : nil
        let metadataForwards = metadata?.forwards ?? []
        if (entry?.forwards ?? []).isEmpty && metadataForwards.isEmpty { return nil }
        try MetadataPolicy.check(metadataForwards, guest: domain.name, settings: config.settings)
        let found = try discovery.addresses(for: domain, explicit4: entry?.address4 ?? metadata?.address4,
                                            explicit6: entry?.address6 ?? metadata?.address6)
        return RunningGuest(uuid: domain.uuid, name: domain.name, address4: found.address4, address6: found.address6,
                            addressSource: found.source, metadataForwards: metadataForwards)
    }

    private func forget(_ uuid: DomainUUID) throws -> Int {
        guard store.has(uuid) else { return 0 }
        return try store.withLock {
            guard store.has(uuid) else { return 0 }
            try store.remove(uuid)
            try install(try plan())
            return 0
        }
    }

    private func reapply() throws -> Int {
        try store.withLock {
            try install(try plan())
            return 0
        }
    }

    /// Applies, and logs what the retired backend could not clean up without failing the event.
    private func install(_ plan: Plan) throws {
        let (selected, retired) = backends()
        let notes = try Reconciler(config: config, store: store, backend: selected, retired: retired).install(plan)
        for note in notes where note.hasPrefix("cannot ") { log.error(note) }
    }

    /// prepare and start: a failure stops the guest from starting, with one line naming it.
    private func strict(_ guest: String, _ operation: String, _ xml: Data, _ started: Date, _ body: (Domain) throws -> Int) -> Int32 {
        do {
            let count = try body(try Domain.parse(xml))
            log.info("guest \(guest) \(operation): \(count) forwards, \(milliseconds(since: started)) ms")
            return 0
        } catch {
            log.error("cannot start guest \(guest): \(oneLine(error))")
            return 1
        }
    }

    /// Everything else: log failures, never fail.
    private func lenient(_ guest: String, _ operation: String, _ xml: Data, _ started: Date, _ body: (Domain) throws -> Int) -> Int32 {
        do {
            let count = try body(try Domain.parse(xml))
            log.info("guest \(guest) \(operation): \(count) forwards, \(milliseconds(since: started)) ms")
        } catch {
            log.error("guest \(guest) \(operation): \(oneLine(error))")
        }
        return 0
    }

}

extension RunningGuest {
    func forwardCount(_ config: Config) -> Int {
        Resolver.merge(config.guest(named: name, uuid: uuid), running: self, settings: config.settings).forwards.count
    }
}

/// An error as one line, for syslog and libvirt's error message.
public func oneLine(_ error: Error) -> String {
    String(describing: error).split(separator: "\n").joined(separator: "; ")
}

func milliseconds(since start: Date) -> Int { Int(Date().timeIntervalSince(start) * 1000) }
