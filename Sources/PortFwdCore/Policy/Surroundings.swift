/// What the host looks like around a guest, as far as the address rules and address
/// discovery need it: libvirt's networks (their static DHCP hosts included), the current
/// DHCP leases, the addresses the host holds itself, its neighbour tables and its sockets.
/// Read by the system layer (`LibvirtFiles`, `HostAddresses`, `Neighbours`); a plain value here.
public struct Surroundings: Sendable {
    public var networks: [String: NetworkDefinition]
    public var hostAddresses: Set<IPAddress>
    public var leases: LeaseTable
    /// The host's neighbour tables (ARP and NDP), by address: which MAC the host delivers an
    /// address to now, on which interface. Anyone on the link can write them with one frame,
    /// so they may refuse a guest's claim and never take an address a guest holds.
    public var neighbours: [IPAddress: [Neighbour]]
    /// The host's own sockets that take connections: what a forward would hide.
    public var listeners: [Listener]
    /// The process that holds a socket (by inode), for messages.
    public var owner: @Sendable (UInt64) -> String?
    /// Which neighbour entries' MACs answer the host's own question for their addresses now
    /// (`NeighbourQuestion`), all asked at once: the system layer asks on the wire, within a
    /// time budget per plan; tests model who answers.
    public var answers: @Sendable ([Neighbour]) -> Set<Neighbour>

    public init(networks: [String: NetworkDefinition] = [:], hostAddresses: Set<IPAddress> = [], leases: LeaseTable = LeaseTable(),
                neighbours: [Neighbour] = [], listeners: [Listener] = [], owner: @escaping @Sendable (UInt64) -> String? = { _ in nil },
                answers: @escaping @Sendable ([Neighbour]) -> Set<Neighbour> = { Set($0) }) {
        self.networks = networks
        self.hostAddresses = hostAddresses
        self.leases = leases
        self.neighbours = Dictionary(grouping: neighbours, by: \.address)
        self.listeners = listeners
        self.owner = owner
        self.answers = answers
    }

    /// The host services (root's or a system user's sockets) a forward of `spec` would hide,
    /// one line each: `tcp *:9000 (nginx (pid 812))`.
    public func hidden(by spec: PortSpec) -> [String] {
        describe(listeners.filter { $0.isSystem && $0.isHidden(by: spec) })
    }

    /// Local users' sockets a forward of `spec` hides: they never keep a port from a guest, and
    /// `status` names them.
    public func usersHidden(by spec: PortSpec) -> [String] {
        describe(listeners.filter { !$0.isSystem && $0.isHidden(by: spec) })
    }

    private func describe(_ found: [Listener]) -> [String] {
        found.prefix(3).map { l in owner(l.inode).map { "\(l.ownedDescription) (\($0))" } ?? l.ownedDescription }
    }

    /// The libvirt network an interface is attached to: by name for `type='network'`,
    /// else by the bridge it is plugged into.
    public func network(of interface: RunningGuest.Interface) -> NetworkDefinition? {
        if let name = interface.network, let network = networks[name] { return network }
        guard let bridge = interface.bridge else { return nil }
        return networks.values.first { $0.bridge == bridge }
    }

    /// The bridges on which a guest with these interfaces would use `address`: those of its
    /// networks with a subnet holding it.
    public func bridges(for address: IPAddress, interfaces: [RunningGuest.Interface]) -> Set<String> {
        var result = Set<String>()
        for i in interfaces {
            guard let network = network(of: i), network.subnet(containing: address) != nil else { continue }
            if let bridge = i.bridge ?? network.bridge { result.insert(bridge) }
        }
        return result
    }

    /// The MACs the host delivers `address` to on these bridges (on any interface, when none).
    public func seen(_ address: IPAddress, on bridges: Set<String>) -> Set<MAC> {
        Set((neighbours[address] ?? []).filter { bridges.isEmpty || bridges.contains($0.interface) }.map(\.mac))
    }

    /// Whether the guest is in use of `address` at one of its own MACs, on these bridges: the
    /// host's neighbour table has it there, and that MAC answers the host's question for it.
    /// What moves a held lease address or binds a lease's client to a guest. A neighbour entry
    /// alone does not: dnsmasq writes one for a DHCP request naming any MAC.
    public func uses(_ address: IPAddress, at macs: Set<MAC>, on bridges: Set<String>) -> Bool {
        !answers(entries(address, at: macs, on: bridges)).isEmpty
    }

    /// The neighbour entries that have `address` at one of `macs`, on these bridges (on any
    /// interface, when none).
    public func entries(_ address: IPAddress, at macs: Set<MAC>, on bridges: Set<String>) -> [Neighbour] {
        (neighbours[address] ?? []).filter { n in (bridges.isEmpty || bridges.contains(n.interface)) && macs.contains(n.mac) }
    }

    /// Whether `address` lies in any isolated libvirt network (no `<forward>`), whichever
    /// networks the guest is on, or the guest is on isolated networks only: no forward may
    /// reach it there. (Any network, not only the guest's: with settings.metadata-address =
    /// "any", a guest on a NAT network could otherwise name an isolated guest's address.)
    public func isIsolated(_ address: IPAddress, interfaces: [RunningGuest.Interface]) -> Bool {
        if networks.values.contains(where: { $0.isolated && $0.subnet(containing: address) != nil }) { return true }
        let attached = interfaces.compactMap { network(of: $0) }
        return !attached.isEmpty && attached.allSatisfy(\.isolated)
    }

    /// What a record of the network, or the wire, says about who else holds `address`: one
    /// line each, with the authority it carries. Static DHCP hosts are the admin's; a current
    /// lease is the network's record of another client; a neighbour entry at another MAC on
    /// the guest's bridge, or an address made by SLAAC from another MAC, is only evidence.
    public func holders(of address: IPAddress, except macs: Set<MAC>, bridges: Set<String>) -> [(who: String, rank: ClaimRank)] {
        var result: [(String, ClaimRank)] = []
        for network in networks.values.sorted(by: { $0.name < $1.name }) {
            for host in network.hosts where host.address == address && !macs.contains(host.mac) {
                result.append(("the static DHCP host of \(host.mac) on network \(network.name)", .staticHost))
            }
        }
        for (bridge, lease) in leases.byAddress[address] ?? [] where !macs.contains(lease.mac) {
            result.append(("the current lease of \(lease.mac) on \(bridge)", .lease))
        }
        for mac in seen(address, on: bridges).subtracting(macs).sorted(by: { $0.value < $1.value }) {
            result.append(("\(mac), which the host's \(address.family == .ipv4 ? "ARP" : "neighbour") table has for it", .evidence))
        }
        if let mac = address.eui64MAC, !macs.contains(mac) { result.append(("the SLAAC address of \(mac)", .evidence)) }
        return result
    }
}

/// One entry of the host's neighbour table: `address` is delivered to `mac` on `interface`.
public struct Neighbour: Hashable, Sendable {
    public let address: IPAddress
    public let mac: MAC
    public let interface: String

    public init(address: IPAddress, mac: MAC, interface: String) {
        self.address = address
        self.mac = mac
        self.interface = interface
    }
}

/// Who vouches for a guest's address, lowest first. The admin (the config, then a network's
/// static host) outranks the network's record of a lease, which outranks what a guest's own
/// metadata says. Evidence (a neighbour entry, a SLAAC address) vouches for nobody: it only
/// refuses a newcomer.
public enum ClaimRank: Int, Comparable, Sendable {
    case evidence = -1, metadata = 0, lease = 1, staticHost = 2, config = 3

    public static func < (a: ClaimRank, b: ClaimRank) -> Bool { a.rawValue < b.rawValue }

    /// The config's and the network definition's word.
    public var isAdmin: Bool { self >= .staticHost }
}
