/// Computes the plan from (config, state) and hands it to a backend. Every command and every
/// hook event goes through here, under the state lock, so the kernel always converges to
/// the same function of the same inputs.
public struct Reconciler: Sendable {
    public let config: Config
    public let store: StateStore
    public let backend: FirewallBackend

    public init(config: Config, store: StateStore, backend: FirewallBackend) {
        self.config = config
        self.store = store
        self.backend = backend
    }

    public struct Outcome: Sendable {
        public let plan: Plan
        public let warnings: [String]
        /// What the backend reports doing besides the table, such as where admission sits.
        public var notes: [String] = []
    }

    /// The plan for the running guests (and with `all`, every configured guest).
    public func plan(all: Bool, extra: [RunningGuest] = [], excluding: DomainUUID? = nil) throws(PlanError) -> Outcome {
        let (loaded, problems) = store.load()
        var running = loaded.filter { $0.uuid != excluding }
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
            return Outcome(plan: outcome.plan, warnings: outcome.warnings, notes: notes)
        }
    }
}
