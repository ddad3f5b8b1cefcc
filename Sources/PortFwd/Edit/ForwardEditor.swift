import PortFwdCore
import PortFwdSystem

/// `forward add` and `forward remove`, like `incus network forward port add`: they edit the
/// guest's own metadata through libvirt (the config file stays the admin's, hand-edited, with
/// its comments), check the change against the policy and the other guests' forwards before
/// anything is written, and apply it at once when the guest runs. A refused edit changes
/// nothing, in libvirt or in the kernel; an apply that fails puts the metadata back.
///
/// A running domain has two definitions, persistent and live, and their metadata can differ
/// (`virsh metadata --live`). Each gets the edit on its own, so nothing live-only is lost, and
/// each is put back as it was.
public struct ForwardEditor: Sendable {
    public let reconciler: Reconciler
    public let virsh: Virsh

    public init(reconciler: Reconciler, virsh: Virsh) {
        self.reconciler = reconciler
        self.virsh = virsh
    }

    public enum Edit: Sendable {
        case add(Forward)
        case remove(PortSpec)
    }

    /// The outcome of the apply, or nil when the guest does not run (the change applies at
    /// its next start).
    public func apply(_ edit: Edit, to domain: String) throws(PortFwdError) -> Outcome? {
        let settings = reconciler.config.settings
        guard settings.metadata else {
            throw PortFwdError(.policy, "settings.metadata = false in \(reconciler.config.file): forwards in a domain's metadata are ignored; add it to the config file instead")
        }
        let ref = try virsh.find(domain)
        let name = ref.name
        let definitions: [Virsh.Definition] = try virsh.isActive(ref) ? [.config, .live] : [.config]
        var old: [Virsh.Definition: RunningGuest.Metadata?] = [:]
        for d in definitions { old[d] = try virsh.metadata(ref, d) }
        let entry = reconciler.config.guest(named: name, uuid: ref.uuid)
        var new: [Virsh.Definition: RunningGuest.Metadata] = [:]
        for d in definitions {
            let before = (old[d] ?? nil) ?? RunningGuest.Metadata()
            var forwards = before.forwards
            switch edit {
            case .add(let forward):
                if forwards.contains(where: { $0.spec == forward.spec && $0.sources == forward.sources }) {
                    if definitions.count == 1 || d == .live { throw PortFwdError(.exists, "guest \(name) already has the forward \(forward)") }
                    break
                }
                forwards.append(forward)
            case .remove(let spec):
                forwards.removeAll { $0.spec == spec }
            }
            new[d] = RunningGuest.Metadata(forwards: forwards, address4: before.address4, address6: before.address6)
        }
        if case .remove(let spec) = edit, definitions.allSatisfy({ ((old[$0] ?? nil)?.forwards ?? []).allSatisfy { $0.spec != spec } }) {
            if entry?.forwards.contains(where: { $0.spec == spec }) == true {
                throw PortFwdError(.notFound, "guest \(name): \(spec) is declared in \(reconciler.config.file) (\(entry!.path)); remove it there")
            }
            throw PortFwdError(.notFound, "guest \(name) has no forward \(spec) in its metadata")
        }
        for d in definitions {
            let problems = MetadataPolicy(settings: settings).forwardProblems(new[d]!.forwards, guest: name)
            if !problems.isEmpty { throw PortFwdError(.policy, lines: problems) }
        }
        if case .add = edit {
            // Against every forward that runs now, and the config's (which cannot be known to
            // conflict only once the guest starts).
            let others = try reconciler.plan(all: true).plan.guests.filter { $0.uuid != ref.uuid && $0.name != name }
            let mine = Guest(name: name, uuid: ref.uuid, address4: nil, address6: nil, forwards: (entry?.forwards ?? []) + new[definitions.last!]!.forwards)
            let conflicts = Conflicts.find(in: others + [mine])
            if !conflicts.isEmpty { throw PortFwdError(.conflict, lines: conflicts) }
        }
        var written: [Virsh.Definition] = []
        do throws(PortFwdError) {
            for d in definitions {
                try virsh.setMetadata(ref, d, new[d])
                written.append(d)
            }
        } catch {
            throw putBack(ref, old, written, after: error)
        }
        guard definitions.contains(.live) else { return nil }
        do throws(PortFwdError) {
            var change = Change.reapply
            change.syncWithLibvirt = true
            return try reconciler.reconcile(change)
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

    /// One guest's forwards, or every defined domain's and configured guest's, with where each
    /// comes from.
    public struct Row: Sendable, Codable {
        public let guest: String
        public let spec: String
        public let sources: [String]
        /// `config` or `metadata`.
        public let origin: String
        public let running: Bool
    }

    public func list(_ domain: String?) throws(PortFwdError) -> [Row] {
        let config = reconciler.config
        var rows: [Row] = []
        var seen: [GuestConfig] = []
        let refs: [Virsh.Ref]
        if let domain { refs = [try virsh.find(domain)] } else { refs = try virsh.domains() }
        for ref in refs {
            let running = try virsh.isActive(ref)
            let entry = config.guest(named: ref.name, uuid: ref.uuid)
            if let entry { seen.append(entry) }
            for f in entry?.forwards ?? [] {
                rows.append(Row(guest: ref.name.value, spec: f.spec.description, sources: f.sources.map(\.description), origin: "config", running: running))
            }
            // What runs, for a running guest; what will run, for one that is shut off.
            for f in (try virsh.metadata(ref, running ? .live : .config))?.forwards ?? [] {
                rows.append(Row(guest: ref.name.value, spec: f.spec.description, sources: f.sources.map(\.description), origin: "metadata", running: running))
            }
        }
        if domain == nil {
            for entry in config.guests where !seen.contains(entry) {
                for f in entry.forwards { rows.append(Row(guest: entry.label, spec: f.spec.description, sources: f.sources.map(\.description), origin: "config", running: false)) }
            }
        }
        return rows
    }
}
