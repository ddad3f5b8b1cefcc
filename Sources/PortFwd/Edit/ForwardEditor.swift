import Foundation
import PortFwdCore
import PortFwdSystem

/// `forward add` and `forward remove`, like `incus network forward port add`: they edit the
/// guest's own metadata through libvirt (the config file stays the admin's, hand-edited, with
/// its comments), check the change against the policy and the other guests' forwards before
/// anything is written, and apply it at once when the guest runs. A refused edit changes
/// nothing, in libvirt or in the kernel; an apply that fails puts the metadata back.
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
        let uuid = try virsh.uuid(domain), name = try virsh.name(uuid.value)
        let active = try virsh.isActive(domain)
        let old = try virsh.metadata(domain) ?? RunningGuest.Metadata()
        let entry = reconciler.config.guest(named: name, uuid: uuid)
        var forwards = old.forwards
        switch edit {
        case .add(let forward):
            if forwards.contains(where: { $0.spec == forward.spec && $0.sources == forward.sources }) {
                throw PortFwdError(.exists, "guest \(name) already has the forward \(forward)")
            }
            forwards.append(forward)
        case .remove(let spec):
            guard let index = forwards.firstIndex(where: { $0.spec == spec }) else {
                if entry?.forwards.contains(where: { $0.spec == spec }) == true {
                    throw PortFwdError(.notFound, "guest \(name): \(spec) is declared in \(reconciler.config.file) (\(entry!.path)); remove it there")
                }
                throw PortFwdError(.notFound, "guest \(name) has no forward \(spec) in its metadata")
            }
            forwards.remove(at: index)
        }
        let new = RunningGuest.Metadata(forwards: forwards, address4: old.address4, address6: old.address6)
        let problems = MetadataPolicy(settings: settings).forwardProblems(forwards, guest: name)
        if !problems.isEmpty { throw PortFwdError(.policy, lines: problems) }
        if case .add = edit {
            // Against every forward that runs now, and the config's (which cannot be known to
            // conflict only once the guest starts).
            let others = try reconciler.plan(all: true).plan.guests.filter { $0.uuid != uuid && $0.name != name }
            let mine = Guest(name: name, uuid: uuid, address4: nil, address6: nil, forwards: (entry?.forwards ?? []) + forwards)
            let conflicts = Conflicts.find(in: others + [mine])
            if !conflicts.isEmpty { throw PortFwdError(.conflict, lines: conflicts) }
        }
        try virsh.setMetadata(domain, new, live: active)
        guard active else { return nil }
        do {
            var change = Change.reapply
            change.syncWithLibvirt = true
            return try reconciler.reconcile(change)
        } catch {
            do { try virsh.setMetadata(domain, old, live: true) } catch let undo {
                throw error.appending("; and putting the metadata back failed: \(undo.message)")
            }
            throw error.appending("; the metadata was put back")
        }
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
        let names: [String]
        if let domain { names = [domain] } else { names = try virsh.domains() }
        for name in names {
            let uuid = try virsh.uuid(name), guest = try virsh.name(uuid.value), running = try virsh.isActive(name)
            let entry = config.guest(named: guest, uuid: uuid)
            if let entry { seen.append(entry) }
            for f in entry?.forwards ?? [] { rows.append(Row(guest: guest.value, spec: f.spec.description, sources: f.sources.map(\.description), origin: "config", running: running)) }
            for f in (try virsh.metadata(name))?.forwards ?? [] {
                rows.append(Row(guest: guest.value, spec: f.spec.description, sources: f.sources.map(\.description), origin: "metadata", running: running))
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
