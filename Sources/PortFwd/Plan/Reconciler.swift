/// Computes the plan from (config, state) and hands it to a backend. Every command and every
/// hook event goes through here, under the state lock, so the kernel always converges to
/// the same function of the same inputs.
public struct Reconciler: Sendable {
    public let config: Config
    public let store: StateStore
    public let backend: FirewallBackend
    /// Backends not in use; whatever they left behind (after a switch) is removed on apply,
    /// so two strategies never DNAT the same packet.
    public let retired: [FirewallBackend]

    public init(config: Config, store: StateStore, backend: FirewallBackend, retired: [FirewallBackend] = []) {
        self.config = config
        self.store = store
        self.backend = backend
        self.retired = retired
    }

    public struct Outcome: Sendable {
        public let plan: Plan
        public let warnings: [String]
        /// What the backend reports doing besides the table, such as where admission sits.
        public var notes: [String] = []
    }

    /// The plan for the running guests (and with `all`, every configured guest).
    public func plan(all: Bool, extra: [RunningGuest] = []) throws(PlanError) -> Outcome {
        try Self.plan(config: config, store: store, all: all, extra: extra)
    }

    /// Planning needs no backend: (config, state) alone decide it. `extra` stands in for
    /// records not written yet (a guest being prepared).
    public static func plan(config: Config, store: StateStore, all: Bool, extra: [RunningGuest] = []) throws(PlanError) -> Outcome {
        let (loaded, problems) = store.load()
        var running = loaded
        for guest in extra {
            running.removeAll { $0.uuid == guest.uuid }
            running.append(guest)
        }
        let (guests, warnings) = Resolver.guests(config: config, running: running, all: all)
        return Outcome(plan: try Plan(guests: guests, settings: config.settings), warnings: problems + warnings)
    }

    /// Plans and applies under the state lock.
    public func apply(all: Bool) throws -> Outcome {
        try store.withLock {
            let outcome = try plan(all: all)
            let notes = try backend.apply(outcome.plan)
            return Outcome(plan: outcome.plan, warnings: outcome.warnings + retire(), notes: notes)
        }
    }

    /// Installs a plan (the caller holds the lock) and clears the retired backends' rules.
    public func install(_ plan: Plan) throws -> [String] {
        let notes = try backend.apply(plan)
        return notes + retire()
    }

    /// Clears a retired backend's rules, but only after a switch: the state directory remembers
    /// which backend applied last, so the common case costs no look at the other firewall.
    private func retire() -> [String] {
        let previous = store.lastBackend()
        store.setLastBackend(backend.name)
        guard let previous, previous != backend.name else { return [] }
        return retired.filter { $0.name == previous }.compactMap { other -> String? in
            do { try other.removeOwnRules(); return nil } catch { return "cannot remove \(other.name) rules: \(error)" }
        }
    }
}
