import PortFwdCore
import PortFwdSystem

/// `forward add` and `forward remove`, like `incus network forward port add`: one command that
/// checks the change against the policy and the other guests' forwards before anything is
/// written, stores it, and applies it at once when the guest runs. A refused edit changes
/// nothing; an apply that fails puts back what was written.
///
/// Where a forward is stored:
/// - in the guest's own metadata, so it travels with the guest, when the metadata policy
///   allows it (the fence for delegated guest owners: ports 1024-65535 by default);
/// - otherwise, or with `--in config`, in the config's drop-in directory
///   (`portfwd.d/GUEST.toml`): the admin's word, which may open any port, port 443 included.
/// The config file itself stays the admin's, hand-edited, with its comments.
///
/// A running domain has two definitions, persistent and live, and their metadata can differ
/// (`virsh metadata --live`). Each gets the edit on its own, so nothing live-only is lost, and
/// each is put back as it was.
public struct ForwardEditor: Sendable {
    public let reconciler: Reconciler
    public let virsh: Virsh
    public let dropIn: DropIn
    /// A reconciler on the config as the files say now: after a drop-in is written.
    let reload: @Sendable () throws(PortFwdError) -> Reconciler

    public init(reconciler: Reconciler, virsh: Virsh, dropIn: DropIn, reload: @escaping @Sendable () throws(PortFwdError) -> Reconciler) {
        self.reconciler = reconciler
        self.virsh = virsh
        self.dropIn = dropIn
        self.reload = reload
    }

    public enum Edit: Sendable {
        case add(Forward, address: IPAddress?)
        case remove(PortSpec)
    }

    public enum Destination: String, Sendable, CaseIterable {
        case auto, metadata, config
    }

    /// What happened: where the change is stored, why there, and the apply's outcome (nil
    /// when the guest does not run: the change applies at its next start).
    public struct Result: Sendable {
        public let guest: GuestName
        public let storedIn: String
        public let why: String?
        public let outcome: Outcome?
        public let uuid: DomainUUID
    }

    /// - Parameter hostPortOnly: a removal named only a host port (`8080`): the one forward
    ///   whose host port that is, when there is exactly one.
    public func apply(_ edit: Edit, to domain: String, in destination: Destination = .auto,
                      hostPortOnly: Bool = false) throws(PortFwdError) -> Result {
        let ref = try find(domain)
        let active = try virsh.isActive(ref)
        let settings = reconciler.config.settings
        let definitions: [Virsh.Definition] = active ? [.config, .live] : [.config]
        var old: [Virsh.Definition: RunningGuest.Metadata?] = [:]
        for d in definitions { old[d] = settings.metadata ? try virsh.metadata(ref, d) : nil }
        let dropInPath = try ownDropIn(ref)

        switch edit {
        case .remove(let spec):
            if definitions.contains(where: { ((old[$0] ?? nil)?.forwards ?? []).contains { $0.isNamed(by: spec) } }) {
                return try editMetadata(edit, ref, active, definitions, old)
            }
            if let text = try dropIn.current(dropInPath), var entry = try Self.entry(text, path: dropInPath),
               entry.forwards.contains(where: { $0.isNamed(by: spec) }) {
                entry.forwards.removeAll { $0.isNamed(by: spec) }
                return try editDropIn(entry, ref, active, path: dropInPath, before: text, why: nil)
            }
            let declared = reconciler.config.guest(named: ref.name, uuid: ref.uuid)
            if let entry = declared, entry.forwards.contains(where: { $0.isNamed(by: spec) }) {
                throw PortFwdError(.notFound, "guest \(ref.name): \(spec) is declared in \(reconciler.config.file) (\(entry.path)); remove it there")
            }
            // `forward remove web1 8080`: the one forward whose host port that is, if only one is.
            var stored: [PortSpec] = []
            for d in definitions { stored += ((old[d] ?? nil)?.forwards ?? []).map { (f: Forward) in f.spec } }
            if let text = try? dropIn.current(dropInPath), let entry = try? Self.entry(text, path: dropInPath) {
                stored += entry.forwards.map { (f: Forward) in f.spec }
            }
            let all = Self.unique(stored + (declared?.forwards ?? []).map { (f: Forward) in f.spec })
            let candidates = all.filter { (s: PortSpec) in
                s.hostPorts == spec.hostPorts && (spec.hostAddress == nil || s.hostAddress == spec.hostAddress)
            }
            if hostPortOnly, candidates.count == 1, let only = candidates.first, only != spec {
                return try apply(.remove(only), to: ref.uuid.value, in: destination)
            }
            let listed = (candidates.count > 1 ? candidates : all).map { (s: PortSpec) in s.description }.joined(separator: ", ")
            throw PortFwdError(.notFound, "guest \(ref.name) has no forward \(spec)"
                + (candidates.count > 1 ? "; host port \(spec.hostPorts) is in several, name one: \(listed)"
                    : all.isEmpty ? "" : "; its forwards: \(listed)"))
        case .add(let forward, let address):
            let inMetadata = Array(Set(definitions.flatMap { ((old[$0] ?? nil)?.forwards ?? []) }))
            if let entry = reconciler.config.guest(named: ref.name, uuid: ref.uuid),
               (entry.forwards + (destination == .config ? [] : inMetadata)).contains(where: { $0.isSame(as: forward) }) {
                throw PortFwdError(.exists, "guest \(ref.name) already has the forward \(forward)")
            }
            // The fence is for what guest owners write; the admin's word goes in the config.
            let fence = settings.metadata ? MetadataPolicy(settings: settings).forwardProblems(inMetadata + [forward], guest: ref.name)
                : ["metadata is off (settings.metadata = false)"]
            let choice = destination == .auto ? (fence.isEmpty ? .metadata : .config) : destination
            if choice == .metadata {
                if !fence.isEmpty {
                    throw PortFwdError(.policy, lines: fence.map { $0 + "; forward add --in config stores it in the config instead" })
                }
                return try editMetadata(edit, ref, active, definitions, old)
            }
            let text = try dropIn.current(dropInPath)
            // A new entry is pinned to this domain by its UUID (the name beside it for the
            // reader), unless the config already covers the guest by its name alone: then by
            // name, so that both entries are one guest's.
            let covering = reconciler.config.guest(named: ref.name, uuid: ref.uuid)
            var entry = try text.flatMap { t throws(PortFwdError) in try Self.entry(t, path: dropInPath) }
                ?? GuestConfig(name: ref.name, uuid: covering != nil && covering?.uuid == nil ? nil : ref.uuid)
            if entry.forwards.contains(where: { $0.isSame(as: forward) }) {
                throw PortFwdError(.exists, "guest \(ref.name) already has the forward \(forward)")
            }
            entry.forwards.append(Forward(spec: forward.spec, sources: forward.sources, origin: .config))
            if let address {
                if address.family == .ipv4 { entry.address4 = address } else { entry.address6 = address }
            }
            let why = destination == .auto ? fence.first.map { $0.replacingFirst("guest \(ref.name): ", with: "") } : nil
            return try editDropIn(entry, ref, active, path: dropInPath, before: text, why: why)
        }
    }

    /// The domain `virsh` knows by this name or UUID; a name it does not know gets the nearest
    /// one it does, as a typo of a command does.
    func find(_ domain: String) throws(PortFwdError) -> Virsh.Ref {
        do { return try virsh.find(domain) } catch {
            guard error.code == .notFound, let names = try? virsh.domains().map(\.name.value),
                  let near = Suggestion.nearest(domain, in: names) else { throw error }
            throw error.appending("; did you mean '\(LogText.line(near))'?")
        }
    }

    static func unique(_ specs: [PortSpec]) -> [PortSpec] {
        var seen = Set<PortSpec>()
        return specs.filter { seen.insert($0).inserted }
    }

    /// The drop-in of this domain: the file named after it, unless that file holds another
    /// guest's entry (another UUID, or a name it no longer bears), then the one named after its
    /// UUID. Whoever names their domain cannot make root's edit land in another's file.
    /// Whose the file is is read from its entries, header or not: a file written by hand for
    /// another guest sends root to this guest's own file, not to edit the other's.
    func ownDropIn(_ ref: Virsh.Ref) throws(PortFwdError) -> String {
        let named = dropIn.path(for: ref.name, uuid: ref.uuid)
        guard let entries = try? Self.entries(dropIn.text(named), path: named),
              entries.contains(where: { !Self.belongs($0, to: ref) }) else { return named }
        let byUUID = dropIn.uuidPath(ref.uuid)
        if let other = try Self.entries(dropIn.text(byUUID), path: byUUID).first(where: { !Self.belongs($0, to: ref) }) {
            throw PortFwdError(.exists, "\(byUUID) holds the entry of guest \(other.label), not of \(ref.name) (\(ref.uuid)); fix it by hand")
        }
        return byUUID
    }

    static func belongs(_ entry: GuestConfig, to ref: Virsh.Ref) -> Bool {
        if let uuid = entry.uuid { return uuid == ref.uuid }
        return entry.name == ref.name
    }

    /// The one `[[guest]]` of a drop-in's text. A file holding several was edited by hand:
    /// rewriting it with one would erase the others.
    static func entry(_ text: String, path: String) throws(PortFwdError) -> GuestConfig? {
        let guests = try entries(text, path: path)
        guard guests.count <= 1 else {
            throw PortFwdError(.exists, "\(path) holds \(guests.count) [[guest]] entries; forward add rewrites only a file of one; edit it by hand")
        }
        return guests.first
    }

    static func entries(_ text: String?, path: String) throws(PortFwdError) -> [GuestConfig] {
        guard let text else { return [] }
        return try Config.parse(text, file: path).guests
    }

    // MARK: - metadata

    private func editMetadata(_ edit: Edit, _ ref: Virsh.Ref, _ active: Bool, _ definitions: [Virsh.Definition],
                              _ old: [Virsh.Definition: RunningGuest.Metadata?]) throws(PortFwdError) -> Result {
        let settings = reconciler.config.settings
        var new: [Virsh.Definition: RunningGuest.Metadata] = [:]
        for d in definitions {
            let before = (old[d] ?? nil) ?? RunningGuest.Metadata()
            var forwards = before.forwards
            var (a4, a6) = (before.address4, before.address6)
            switch edit {
            case .add(let forward, let address):
                if !forwards.contains(where: { $0.isSame(as: forward) }) { forwards.append(forward) }
                if let address { if address.family == .ipv4 { a4 = address } else { a6 = address } }
            case .remove(let spec):
                forwards.removeAll { $0.isNamed(by: spec) }
            }
            new[d] = RunningGuest.Metadata(forwards: forwards, address4: a4, address6: a6)
        }
        for d in definitions {
            let problems = MetadataPolicy(settings: settings).forwardProblems(new[d]!.forwards, guest: ref.name)
            if !problems.isEmpty { throw PortFwdError(.policy, lines: problems) }
        }
        if case .add = edit { try checkConflicts(ref, forwards: new[definitions.last!]!.forwards, config: reconciler) }
        var written: [Virsh.Definition] = []
        do throws(PortFwdError) {
            for d in definitions {
                try virsh.setMetadata(ref, d, new[d])
                written.append(d)
            }
        } catch {
            throw putBack(ref, old, written, after: error)
        }
        guard active else { return Result(guest: ref.name, storedIn: "its metadata", why: nil, outcome: nil, uuid: ref.uuid) }
        do throws(PortFwdError) {
            return Result(guest: ref.name, storedIn: "its metadata", why: nil, outcome: try reconciler.reconcile(.sync), uuid: ref.uuid)
        } catch {
            throw putBack(ref, old, written, after: error)
        }
    }

    /// Each definition in `written` back as it was; the error to throw, saying whether that worked.
    private func putBack(_ ref: Virsh.Ref, _ old: [Virsh.Definition: RunningGuest.Metadata?], _ written: [Virsh.Definition],
                         after error: PortFwdError) -> PortFwdError {
        var failures: [String] = []
        for d in written.reversed() {
            do { try virsh.setMetadata(ref, d, old[d] ?? nil) } catch { failures.append("\(d.rawValue): \(error.message)") }
        }
        if !failures.isEmpty { return error.appending("; and putting the metadata back failed: \(failures.joined(separator: "; "))") }
        return written.isEmpty ? error : error.appending("; the metadata was put back")
    }

    // MARK: - the config's drop-in

    private func editDropIn(_ entry: GuestConfig, _ ref: Virsh.Ref, _ active: Bool, path: String, before: String?,
                            why: String?) throws(PortFwdError) -> Result {
        try checkConflicts(ref, forwards: entry.forwards, config: reconciler)
        try dropIn.write(entry, to: path)
        do throws(PortFwdError) {
            // The config as the files say now must parse (an address given twice must agree).
            let updated = try reload()
            guard active else { return Result(guest: ref.name, storedIn: path, why: why, outcome: nil, uuid: ref.uuid) }
            var change = Change.sync
            change.refuseConflicts = true
            return Result(guest: ref.name, storedIn: path, why: why, outcome: try updated.reconcile(change), uuid: ref.uuid)
        } catch {
            do { try dropIn.restore(path, before) } catch let undo {
                throw error.appending("; and putting \(path) back failed: \(undo.message)")
            }
            throw error.appending("; \(path) was put back")
        }
    }

    /// Against every forward that runs now, and the config's (which cannot be known to
    /// conflict only once the guest starts).
    private func checkConflicts(_ ref: Virsh.Ref, forwards: [Forward], config reconciler: Reconciler) throws(PortFwdError) {
        // Another guest is one with another UUID; by name only when it has none (a configured
        // entry for whichever domain bears the name). A guest that once bore this name is
        // another guest all the same.
        let others = try reconciler.plan(all: true).plan.guests.filter { g in g.uuid.map { $0 != ref.uuid } ?? (g.name != ref.name) }
        let entry = reconciler.config.guest(named: ref.name, uuid: ref.uuid)
        let mine = Guest(name: ref.name, uuid: ref.uuid, address4: nil, address6: nil,
                         forwards: (entry?.forwards ?? []) + forwards.filter { f in !(entry?.forwards ?? []).contains { $0.isNamed(by: f.spec) } })
        let conflicts = Conflicts.find(in: others + [mine])
        if !conflicts.isEmpty { throw PortFwdError(.conflict, lines: conflicts) }
    }

    // MARK: - list

    /// One guest's forwards, or every defined domain's and configured guest's, with where each
    /// comes from.
    public struct Row: Sendable, Codable {
        public let guest: String
        public let spec: String
        public let sources: [String]
        /// `config`, `config (portfwd.d/web1.toml)` or `metadata`.
        public let origin: String
        public let running: Bool
        /// For a running guest, when known: `installed`, `pending: …`, `left out (reason): …`,
        /// `off` (after flush), or `not installed`.
        public var state: String?
    }

    /// The rows, and one line per guest whose forwards could not all be read (its metadata
    /// refused, virsh failing on it): one guest's owner cannot hide every other guest's list.
    public func list(_ domain: String?) throws(PortFwdError) -> (rows: [Row], problems: [String]) {
        let config = reconciler.config
        var rows: [Row] = []
        var problems: [String] = []
        var seen: [GuestConfig] = []
        let refs: [Virsh.Ref]
        if let domain { refs = [try find(domain)] } else { refs = try virsh.domains() }
        for ref in refs {
            let entry = config.guest(named: ref.name, uuid: ref.uuid)
            if let entry { seen.append(entry) }
            var running = false
            do throws(PortFwdError) { running = try virsh.isActive(ref) } catch {
                problems.append("guest \(ref.name): cannot tell whether it runs: \(error.oneLine)")
            }
            for f in entry?.forwards ?? [] {
                rows.append(Row(guest: ref.name.value, spec: f.spec.description, sources: f.sources.map(\.description),
                                origin: "config", running: running))
            }
            // What runs, for a running guest; what will run, for one that is shut off.
            guard config.settings.metadata else { continue }
            do throws(PortFwdError) {
                for f in try virsh.metadata(ref, running ? .live : .config)?.forwards ?? [] {
                    rows.append(Row(guest: ref.name.value, spec: f.spec.description, sources: f.sources.map(\.description),
                                    origin: "metadata", running: running))
                }
            } catch {
                problems.append("guest \(ref.name): its metadata forwards are not listed: \(error.oneLine)")
            }
        }
        if domain == nil {
            for entry in config.guests where !seen.contains(entry) {
                for f in entry.forwards {
                    rows.append(Row(guest: entry.label, spec: f.spec.description, sources: f.sources.map(\.description),
                                    origin: "config", running: false))
                }
            }
        }
        return (rows, problems)
    }
}
