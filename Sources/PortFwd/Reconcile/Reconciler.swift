import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif
import PortFwdCore
import PortFwdSystem

/// The one transaction every change goes through: lock the state, change the records, plan,
/// pick the backend, install, and if any step fails put the records and the kernel back
/// exactly as they were; then retire the backend no longer in use and report. The kernel
/// rules are a function of (config, records), so re-running any event converges.
public struct Reconciler: Sendable {
    public let config: Config
    /// The config file's text: kept in the state directory once it applied, for operations
    /// that must work when the file on disk stops parsing (`stopped` must always remove a
    /// guest's forwards).
    public let configText: String?
    public let store: StateStore
    public let libvirt: LibvirtFiles
    /// The host and how to use it: the backends are chosen from it when something is
    /// installed or looked at (choosing one may probe the kernel).
    public let host: Host
    let clock: @Sendable () -> Date
    /// How long a record may lack its domain's status file before `syncWithLibvirt` drops it:
    /// libvirt writes that file only after the `start` hook has recorded the guest.
    public var startGrace: TimeInterval = 120

    public init(config: Config, configText: String? = nil, store: StateStore, libvirt: LibvirtFiles = LibvirtFiles(),
                host: Host, clock: @escaping @Sendable () -> Date = { Date() }) {
        self.config = config
        self.configText = configText
        self.store = store
        self.libvirt = libvirt
        self.host = host
        self.clock = clock
    }

    /// The strategies for this config's settings.
    public var backends: Backends { host.backends(config.settings, store: store) }

    public var intake: DomainIntake { DomainIntake(config: config, now: clock()) }

    /// libvirt's networks, leases and the host's addresses, as they are now.
    public var surroundings: Surroundings { libvirt.surroundings(now: clock()) }

    public func reconcile(_ change: Change) throws(PortFwdError) -> Outcome {
        if change.flush { return try flush() }
        return try locked { () throws(PortFwdError) in
            do throws(PortFwdError) { return try transaction(change) } catch {
                guard change.removeAllIfStuck, !change.forget.isEmpty else { throw error }
                return fallBack(change.forget, after: error)
            }
        }
    }

    /// Stopping always removes the guest's forwards. When even the plan without it cannot be
    /// installed (a kernel that refuses), its record goes and every rule of ours with it, and
    /// the mode becomes `off`, loudly, rather than leave its ports open to whatever gets its
    /// address next. Holding the lock already.
    private func fallBack(_ forget: [DomainUUID], after error: PortFwdError) -> Outcome {
        var outcome = Outcome(plan: .empty(config.settings))
        var failures: [String] = []
        for uuid in forget {
            do { try store.remove(uuid) } catch { failures.append(error.message) }
        }
        do { try store.setMode(.off) } catch { failures.append(error.message) }
        failures += removeAll()
        outcome.mode = .off
        outcome.fellBack = "cannot re-plan without guest \(forget.map(\.value).joined(separator: ", ")): \(error.oneLine); "
            + (failures.isEmpty ? "every forward was removed instead; fix the cause and run libvirt-portfwd apply"
                : "removing every forward failed too: \(failures.joined(separator: "; "))")
        return outcome
    }

    /// The plan for what is recorded now, without changing anything (`check`, `export`):
    /// the running guests, and with `all` (default: the recorded mode) every configured one.
    public func plan(all: Bool? = nil) throws(PortFwdError) -> Outcome {
        try current(all: all).0
    }

    /// The plan and the records it came from.
    func current(all: Bool? = nil) throws(PortFwdError) -> (Outcome, [RunningGuest]) {
        let (records, problems, _) = load()
        let mode = all.map { $0 ? Mode.all : .running } ?? recordedMode
        let (resolved, isolated, bridges) = resolve(records, mode: mode)
        var outcome = Outcome(plan: try Plan(guests: resolved.guests, settings: config.settings, isolated: isolated, bridges: bridges))
        outcome.mode = mode
        outcome.pending = resolved.pending
        outcome.conflicts = resolved.conflicts
        outcome.leftOut = resolved.leftOut
        outcome.unreadable = problems
        outcome.warnings = problems.map { Warning(.record, $0) } + resolved.warnings.map { Warning(.policy, $0) }
            + resolved.conflicts.map { Warning(.conflict, "\($0); neither is installed") }
            + resolved.usersHidden.map { Warning(.userSocket, $0) }
        return (outcome, records)
    }

    /// The records, and one line per record that does not read. The guest of such a record,
    /// when libvirt runs it, is taken again from libvirt's status file (as a guest starting):
    /// a broken file decides nothing, neither its own guest's forwards nor another's.
    func load() -> (records: [RunningGuest], problems: [String], retaken: [DomainUUID]) {
        let loaded = store.load()
        guard !loaded.unreadable.isEmpty, libvirt.knowsRunningDomains else { return (loaded.guests, loaded.problems, []) }
        let domains = libvirt.runningDomains().domains
        var records = loaded.guests, retaken: [DomainUUID] = []
        let intake = self.intake
        let around = surroundings
        for uuid in loaded.unreadable {
            guard let domain = domains.first(where: { $0.uuid == uuid }), let guest = intake.take(domain, surroundings: around).0 else { continue }
            records.append(guest)
            retaken.append(uuid)
        }
        let problems = loaded.problems.map { line in
            retaken.contains { line.contains($0.value) } ? line + "; guest taken again from libvirt's status file" : line
        }
        return (records, problems, retaken)
    }

    /// Where the kernel differs from `plan` (see FirewallBackend.drift).
    public func drift(from plan: Plan) throws(PortFwdError) -> [Drift] { try backends.selected.drift(from: plan) }

    /// Whether the selected backend has rules of ours installed.
    public func installed() throws(PortFwdError) -> Bool { try backends.selected.installed() }

    public var recordedMode: Mode { store.mode }

    private func transaction(_ change: Change) throws(PortFwdError) -> Outcome {
        let prepared = try prepare(change)
        if change.dryRun { return prepared.outcome }
        return try commit(prepared, change)
    }

    /// A change planned, not yet installed: the records as they will be written, and which.
    struct Prepared {
        var outcome: Outcome
        /// The records as they were read, before the change.
        let loaded: [RunningGuest]
        let touched: Set<DomainUUID>
        /// Whether libvirt's side changed a guest (adopted, dropped, readdressed, or a record
        /// that did not read written again).
        var guestsChanged: Bool {
            !(outcome.adopted.isEmpty && outcome.dropped.isEmpty && outcome.changed.isEmpty && outcome.unreadable.isEmpty)
        }
    }

    /// The records changed and the plan made from them; nothing written, nothing installed.
    /// Holding the lock already.
    func prepare(_ change: Change) throws(PortFwdError) -> Prepared {
        let (loaded, problems, retaken) = load()
        var warnings = problems.map { Warning(.record, $0) }
        var records = loaded
        let mode = change.mode ?? recordedMode
        var touched = Set(change.forget + change.record.map(\.uuid))
        records.removeAll { touched.contains($0.uuid) }
        records += change.record
        // A record that did not read is written again, from what libvirt says of its guest.
        touched.formUnion(retaken)
        var adopted: [GuestName] = [], dropped: [GuestName] = [], changed: [GuestName] = []
        var deferred = false
        var unseen = Set<IPAddress>()
        if change.syncWithLibvirt {
            let synced = sync(&records, limit: change.followLimit, consume: !change.dryRun)
            deferred = synced.deferred
            unseen = synced.unseen
            adopted = synced.adopted.map(\.name)
            dropped = synced.dropped.map(\.name)
            changed = records.filter { synced.changed.contains($0.uuid) }.map(\.name)
            warnings += synced.warnings
            touched.formUnion(synced.adopted.map(\.uuid) + synced.dropped.map(\.uuid) + synced.changed)
        }
        let (resolved, isolated, bridges) = resolve(records, mode: mode, newcomer: change.newcomer)
        // The one reason a guest's start is refused: its own forwards clash with another's.
        if !resolved.refusals.isEmpty { throw PortFwdError(.conflict, lines: resolved.refusals) }
        if change.refuseConflicts && !resolved.conflicts.isEmpty { throw PortFwdError(.conflict, lines: resolved.conflicts) }
        warnings += resolved.warnings.map { Warning(.policy, $0) } + resolved.conflicts.map { Warning(.conflict, "\($0); neither is installed") }
            + resolved.usersHidden.map { Warning(.userSocket, $0) }
        var outcome = Outcome(plan: try Plan(guests: resolved.guests, settings: config.settings, isolated: isolated, bridges: bridges))
        // What each guest holds once this plan is in: written with the records, all or nothing.
        for (index, record) in records.enumerated() {
            let holds = resolved.holdings[record.uuid] ?? .none
            if holds != record.holds {
                records[index] = record.holding(holds)
                touched.insert(record.uuid)
            }
        }
        outcome.followDeferred = deferred
        outcome.unseenMoves = unseen
        outcome.unreadable = problems
        outcome.conflicts = resolved.conflicts
        outcome.leftOut = resolved.leftOut
        outcome.mode = mode
        outcome.pending = resolved.pending
        outcome.adopted = adopted
        outcome.dropped = dropped
        outcome.changed = changed
        outcome.records = records
        outcome.warnings = warnings
        return Prepared(outcome: outcome, loaded: loaded, touched: touched)
    }

    /// Installs a prepared change: the records and the kernel's rules together, or neither.
    /// Holding the lock already.
    /// `using`: the backends that already judged the kernel in this transaction (a repair).
    func commit(_ prepared: Prepared, _ change: Change, using judged: Backends? = nil) throws(PortFwdError) -> Outcome {
        var outcome = prepared.outcome
        let mode = outcome.mode, records = outcome.records, touched = prepared.touched
        // Off (after `flush`): the records follow the guests, the kernel is left alone.
        let chosen = mode == .off ? nil : judged ?? backends
        let installation = try chosen?.selected.install(outcome.plan) ?? Installation()
        let store = self.store
        let snapshot = store.snapshot(Array(touched))
        let writes = records.filter { touched.contains($0.uuid) }
        let removals = touched.filter { uuid in !records.contains { $0.uuid == uuid } }
        let recordStep = Step("update the records in \(store.directory)", apply: { () throws(PortFwdError) in
            for guest in writes { try store.save(guest) }
            for uuid in removals { try store.remove(uuid) }
            try store.setMode(mode)
        }, undo: { () throws(PortFwdError) in
            let failures = store.restore(snapshot)
            if !failures.isEmpty { throw PortFwdError(.io, lines: failures) }
        })
        try Steps.run([recordStep] + installation.steps)
        let now = Int64(clock().timeIntervalSince1970)
        store.markStopped(change.forget, at: now)
        if let newcomer = change.newcomer { store.clearStopped(newcomer) }

        outcome.notes = installation.notes
        if let chosen {
            outcome.warnings += retire(chosen) + remember(chosen.selected.name) + blockers(outcome.plan)
        }
        return outcome
    }

    /// Whether libvirt's side moved since the records were written (a guest adopted, dropped or
    /// readdressed, a record to write again), without planning; and whether a move waits for its
    /// guest's bound. With `consume`, each move seen is charged to its guest. Read without the
    /// lock: what it finds is checked again under it.
    public func libvirtMoved(limit: FollowLimit?, consume: Bool = false) -> (moved: Bool, deferred: Bool, unseen: Set<IPAddress>) {
        let (loaded, _, retaken) = load()
        var records = loaded
        let synced = sync(&records, limit: limit, consume: consume)
        return (!(synced.adopted.isEmpty && synced.dropped.isEmpty && synced.changed.isEmpty && retaken.isEmpty), synced.deferred, synced.unseen)
    }

    /// A record whose domain libvirt does not report running, past the start grace: libvirt
    /// writes a starting domain's status file only after its `start` hook recorded it.
    func isStale(_ record: RunningGuest, running: Set<DomainUUID>, now: Int64) -> Bool {
        !running.contains(record.uuid) && now - record.since > Int64(startGrace)
    }

    /// Records made to agree with the domains libvirt reports running. A guest whose lease
    /// moved is followed when `limit` allows (one guest's churn is rate-bounded, not the host's
    /// repairs); `deferred` says that a move waits for it, `unseen` the new addresses held
    /// addresses wait on (`DomainIntake.followLease`).
    private func sync(_ records: inout [RunningGuest], limit: FollowLimit?, consume: Bool)
        -> (adopted: [RunningGuest], dropped: [RunningGuest], changed: [DomainUUID], warnings: [Warning], deferred: Bool, unseen: Set<IPAddress>) {
        guard libvirt.knowsRunningDomains else { return ([], [], [], [], false, []) }
        let (domains, unreadable, problems) = libvirt.runningDomains()
        var warnings = problems.map { Warning(.libvirt, "skipping \($0)") }
        let intake = self.intake
        let surroundings = self.surroundings
        let now = Int64(clock().timeIntervalSince1970)
        // A guest whose stop hook ran a moment ago may still have its status file: not adopted.
        let stopping = store.recentlyStopped(now: now, window: Int64(startGrace))
        var adopted: [RunningGuest] = [], dropped: [RunningGuest] = [], changed: [DomainUUID] = []
        // A domain whose status file does not parse still runs: its record stays as it was.
        let running = Set(domains.map(\.uuid) + unreadable)
        for record in records where isStale(record, running: running, now: now) {
            dropped.append(record)
        }
        records.removeAll { r in dropped.contains { $0.uuid == r.uuid } }
        for domain in domains {
            let existing = records.first { $0.uuid == domain.uuid }
            let (taken, notes) = intake.take(domain, surroundings: surroundings)
            warnings += notes.map { Warning(.policy, $0) }
            guard var fresh = taken else {
                if let existing { dropped.append(existing); records.removeAll { $0.uuid == existing.uuid } }
                continue
            }
            if let existing {
                fresh = intake.continuing(fresh, from: existing, surroundings: surroundings, following: false)
                if fresh != existing {
                    records.removeAll { $0.uuid == existing.uuid }
                    records.append(fresh)
                    changed.append(fresh.uuid)
                }
            } else if !stopping.contains(domain.uuid) {
                // Adopted from its status file: dropped as soon as that file goes, no grace.
                fresh = RunningGuest(uuid: fresh.uuid, name: fresh.name, interfaces: fresh.interfaces, address4: fresh.address4,
                                     address6: fresh.address6, addressSource: fresh.addressSource, metadata: fresh.metadata, since: 0)
                records.append(fresh)
                adopted.append(fresh)
            }
        }
        var deferred = false
        var unseen = Set<IPAddress>()
        for (index, record) in records.enumerated() {
            guard let moved = intake.followLease(record, surroundings: surroundings, unseen: &unseen) else { continue }
            // A guest without an address yet is never kept waiting.
            guard record.addressSource == .pending || limit?.allow(record.uuid, consume: consume) ?? true else { deferred = true; continue }
            records[index] = moved
            if !changed.contains(moved.uuid) { changed.append(moved.uuid) }
        }
        return (adopted, dropped, changed, warnings, deferred, unseen)
    }

    /// Firewalls that will turn our forwards away whatever we install.
    func blockers(_ plan: Plan) -> [Warning] {
        guard !plan.entries.isEmpty, (try? host.firewalldRejectsForwards()) == true else { return [] }
        return [Warning(.blocked, Firewalld.strictProblem)]
    }

    /// The guests to plan, and the bridges of isolated networks. libvirt's networks are read
    /// every time (a forward must never open an isolated network); leases and the host's
    /// addresses only when a guest-controlled address needs checking.
    func resolve(_ records: [RunningGuest], mode: Mode, newcomer: DomainUUID? = nil)
        -> (Resolver.Result, isolated: [String], bridges: [String: [Network]]) {
        let networks = libvirt.networks()
        var cached: Surroundings?
        func around() -> Surroundings {
            if let cached { return cached }
            let s = libvirt.surroundings(now: clock(), networks: networks)
            cached = s
            return s
        }
        let result = Resolver.resolve(config: config, running: records, all: mode == .all, newcomer: newcomer, surroundings: around())
        // Which bridge each network's guests sit behind: how other firewalls' rules see our traffic.
        var bridges: [String: [Network]] = [:]
        for network in networks.values { if let bridge = network.bridge { bridges[bridge, default: []] += network.subnets.map(\.network) } }
        return (result, networks.values.filter(\.isolated).compactMap(\.bridge), bridges)
    }

    /// Removes what the backend used before left behind, but only after a switch: the state
    /// directory remembers which backend applied last, so the common case costs no look at the
    /// other firewall.
    private func retire(_ chosen: Backends) -> [Warning] {
        guard let previous = store.lastBackend, previous != chosen.selected.name else { return [] }
        var warnings: [Warning] = []
        for other in chosen.others where other.name == previous {
            do throws(PortFwdError) {
                warnings += Steps.runAll(try other.removal(admission: false).steps)
                    .map { Warning(.retire, "cannot remove \(other.name) rules: \($0)") }
            } catch { warnings.append(Warning(.retire, "cannot remove \(other.name) rules: \(error.message)")) }
        }
        return warnings
    }

    private func remember(_ backend: Settings.Backend) -> [Warning] {
        var warnings: [Warning] = []
        do { try store.setLastBackend(backend) } catch { warnings.append(Warning(.state, error.message)) }
        if let configText { do { try store.setLastConfig(configText) } catch { warnings.append(Warning(.state, error.message)) } }
        return warnings
    }

    /// Removes every rule of ours, whichever backend made it; one line per failure.
    private func removeAll() -> [String] {
        let chosen = backends
        var failures: [String] = []
        for (index, backend) in ([chosen.selected] + chosen.others).enumerated() {
            do throws(PortFwdError) {
                failures += Steps.runAll(try backend.removal(admission: index == 0).steps)
            } catch { failures.append(error.message) }
        }
        return failures
    }

    /// Every rule of ours goes, whichever backend made it. The admin's way out never depends on
    /// the thing that broke: without the state lock (a read-only /run, a lock that cannot be
    /// taken) it goes on, and says so. Records stay: the next apply or hook event re-installs.
    private func flush() throws(PortFwdError) -> Outcome {
        var outcome = Outcome(plan: .empty(config.settings))
        let removeAll = { self.removeAll() }
        var failures: [String]
        let store = self.store
        do throws(PortFwdError) {
            failures = try locked(timeout: 5) { () throws(PortFwdError) in
                // Off until the next apply: neither the hooks nor the service put them back.
                try store.setMode(.off)
                return removeAll()
            }
        } catch {
            outcome.warnings.append(Warning(.state, "\(error.message); removing the rules without the lock"))
            failures = removeAll()
        }
        if !failures.isEmpty { throw PortFwdError(.io, lines: failures) }
        return outcome
    }

    func locked<T>(timeout: Double? = nil, _ body: () throws(PortFwdError) -> T) throws(PortFwdError) -> T {
        do {
            return try store.withLock(timeout: timeout) { try body() }
        } catch let error as PortFwdError {
            throw error
        } catch {
            throw PortFwdError(.io, "\(error)")
        }
    }
}

extension Steps {
    /// Runs every step, keeping going past failures, and returns one line per failure: for
    /// removals, where each rule that can go should go.
    public static func runAll(_ steps: [Step]) -> [String] {
        var failures: [String] = []
        for step in steps {
            do { try step.forward() } catch { failures.append("\(step.name): \(error.message)") }
        }
        return failures
    }
}
