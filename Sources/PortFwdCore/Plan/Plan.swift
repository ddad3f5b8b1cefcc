/// One forward in one address family, with everything the renderers need.
public struct PlanEntry: Hashable, Sendable {
    public let guest: GuestName
    /// The domain's UUID; nil for a configured guest that does not run (`apply --all`).
    public var uuid: DomainUUID? = nil
    public let family: Family
    /// nil: every local address.
    public let hostAddress: IPAddress?
    public let proto: Proto
    public let hostPorts: PortRange
    public let guestAddress: IPAddress
    public let guestPorts: PortRange
    /// Allowed clients of this family; never empty (`0.0.0.0/0` or `::/0` means everyone).
    public let sources: [Network]
    /// The forward this entry came from, for status output.
    public let forward: Forward

    /// Who owns its counters, as the kernel's element comment carries it: the domain's UUID,
    /// or for a configured guest without one, a digest of its name (safe in any comment).
    public var owner: String { uuid?.value ?? "guest-\(GuestName.digest(guest))" }
}

/// Every active forward, conflict-free. A pure value: the same guests and settings always
/// give the same plan, which is what makes re-applying converge instead of drift.
public struct Plan: Hashable, Sendable {
    public let settings: Settings
    public let guests: [Guest]
    public let entries: [PlanEntry]
    /// Bridges of isolated libvirt networks (no `<forward>`), sorted: nothing that comes in
    /// through them is forwarded, so a forward never gives such a network a way out.
    public let isolated: [String]
    /// Each libvirt network's bridge and subnets: which bridge a guest's traffic goes out on,
    /// for the analysis of other firewalls (`Flow`); not part of the ruleset.
    public let bridges: [String: [Network]]

    public init(guests: [Guest], settings: Settings, isolated: [String] = [], bridges: [String: [Network]] = [:]) throws(PortFwdError) {
        var problems: [String] = []
        var entries: [PlanEntry] = []
        entries.reserveCapacity(guests.reduce(0) { $0 + $1.forwards.count })
        for guest in guests {
            for forward in guest.forwards {
                do { try Plan.append(forward, of: guest, to: &entries) } catch { problems.append(error.message) }
            }
        }
        let conflicts = Conflicts.find(in: guests)
        if !problems.isEmpty || !conflicts.isEmpty {
            throw PortFwdError(conflicts.isEmpty ? .invalidInput : .conflict, lines: problems + conflicts)
        }
        self.settings = settings
        self.guests = guests
        self.entries = entries
        // Every name Linux accepts, however odd: the renderers match each exactly, and a bridge
        // dropped here would leave its network open.
        self.isolated = Array(Set(isolated.filter(InterfaceName.isLinuxName))).sorted()
        self.bridges = bridges.filter { InterfaceName.isLinuxName($0.key) }
    }

    /// Nothing to forward: what `flush`'s rules and an empty config have in common.
    public static func empty(_ settings: Settings) -> Plan { try! Plan(guests: [], settings: settings) }

    public func entries(_ family: Family) -> [PlanEntry] { entries.filter { $0.family == family } }

    public var forwardCount: Int { guests.reduce(0) { $0 + $1.forwards.count } }

    // Shared by every unrestricted entry rather than allocated per forward.
    /// Every client of a family, built once: plans ask for it per forward.
    private static let everyone = Dictionary(uniqueKeysWithValues: Family.allCases.map { ($0, [Network.any($0)]) })

    private static func append(_ forward: Forward, of guest: Guest, to result: inout [PlanEntry]) throws(PortFwdError) {
        let spec = forward.spec
        let families: [Family] = spec.hostAddress.map { [$0.family] } ?? Family.allCases.filter { guest.address($0) != nil }
        if families.isEmpty {
            throw PortFwdError(.invalidInput, "guest \(guest.name): forward \(spec) has no guest address to go to; set address or address6")
        }
        for family in families {
            guard let target = guest.address(family) else {
                throw PortFwdError(.invalidInput, "guest \(guest.name): forward \(spec) is bound to an \(family.label) host address, "
                    + "but the guest has no \(family.addressKey)")
            }
            let sources = forward.sources.isEmpty ? everyone[family]! : forward.sources.filter { $0.family == family }
            // Restricted to clients of the other family only: nobody of this family may use it.
            if sources.isEmpty { continue }
            result.append(PlanEntry(guest: guest.name, uuid: guest.uuid, family: family, hostAddress: spec.hostAddress, proto: spec.proto,
                                    hostPorts: spec.hostPorts, guestAddress: target, guestPorts: spec.guestPorts,
                                    sources: sources, forward: forward))
        }
    }
}
