/// What the host looks like around a guest, as far as the address rules and address
/// discovery need it: libvirt's networks (their static DHCP hosts included), the current
/// DHCP leases, and the addresses the host holds itself. Read by the system layer
/// (`LibvirtFiles`, `HostAddresses`); a plain value here.
public struct Surroundings: Sendable {
    public var networks: [String: NetworkDefinition]
    public var hostAddresses: Set<IPAddress>
    public var leases: LeaseTable
    /// The host's neighbour table: which MAC answers for an address now (IPv4).
    public var neighbours: [IPAddress: MAC]
    /// The host's own sockets that take connections: what a forward would hide.
    public var listeners: [Listener]
    /// The process that holds a socket (by inode), for messages.
    public var owner: @Sendable (UInt64) -> String?

    public init(networks: [String: NetworkDefinition] = [:], hostAddresses: Set<IPAddress> = [], leases: LeaseTable = LeaseTable(),
                neighbours: [IPAddress: MAC] = [:], listeners: [Listener] = [], owner: @escaping @Sendable (UInt64) -> String? = { _ in nil }) {
        self.networks = networks
        self.hostAddresses = hostAddresses
        self.leases = leases
        self.neighbours = neighbours
        self.listeners = listeners
        self.owner = owner
    }

    /// The host's sockets a forward of `spec` would hide, one line each: `tcp *:9000 (nginx (pid 812))`.
    public func hidden(by spec: PortSpec) -> [String] {
        listeners.filter { $0.isHidden(by: spec) }.prefix(3).map { l in owner(l.inode).map { "\(l) (\($0))" } ?? l.description }
    }

    /// The libvirt network an interface is attached to: by name for `type='network'`,
    /// else by the bridge it is plugged into.
    public func network(of interface: RunningGuest.Interface) -> NetworkDefinition? {
        if let name = interface.network, let network = networks[name] { return network }
        guard let bridge = interface.bridge else { return nil }
        return networks.values.first { $0.bridge == bridge }
    }

    /// Who else holds `address` by the network's own records: static DHCP hosts and current
    /// leases of MACs that are not `macs`; and, for an address a guest's metadata names, the
    /// MAC the host's neighbour table has for it, or whose SLAAC (EUI-64) address it is.
    /// One line each, for messages.
    public func holders(of address: IPAddress, except macs: Set<MAC>, seenOnTheWire: Bool = false) -> [(who: String, trusted: Bool)] {
        var result: [(String, Bool)] = []
        for network in networks.values.sorted(by: { $0.name < $1.name }) {
            for host in network.hosts where host.address == address && !macs.contains(host.mac) {
                result.append(("the static DHCP host of \(host.mac) on network \(network.name)", true))
            }
        }
        for (bridge, lease) in leases.byAddress[address] ?? [] where !macs.contains(lease.mac) {
            result.append(("the current lease of \(lease.mac) on \(bridge)", false))
        }
        if seenOnTheWire {
            if let mac = neighbours[address], !macs.contains(mac) { result.append(("\(mac), which answers for it on the host's link", false)) }
            if let mac = address.eui64MAC, !macs.contains(mac) { result.append(("the SLAAC address of \(mac)", false)) }
        }
        return result
    }
}
