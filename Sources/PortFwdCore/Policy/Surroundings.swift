/// What the host looks like around a guest, as far as the address rules and address
/// discovery need it: libvirt's networks (their static DHCP hosts included), the current
/// DHCP leases, and the addresses the host holds itself. Read by the system layer
/// (`LibvirtFiles`, `HostAddresses`); a plain value here.
public struct Surroundings: Sendable {
    public var networks: [String: NetworkDefinition]
    public var hostAddresses: Set<IPAddress>
    public var leases: LeaseTable

    public init(networks: [String: NetworkDefinition] = [:], hostAddresses: Set<IPAddress> = [], leases: LeaseTable = LeaseTable()) {
        self.networks = networks
        self.hostAddresses = hostAddresses
        self.leases = leases
    }

    /// The libvirt network an interface is attached to: by name for `type='network'`,
    /// else by the bridge it is plugged into.
    public func network(of interface: RunningGuest.Interface) -> NetworkDefinition? {
        if let name = interface.network, let network = networks[name] { return network }
        guard let bridge = interface.bridge else { return nil }
        return networks.values.first { $0.bridge == bridge }
    }

    /// Who else holds `address` by the network's own records: static DHCP hosts and current
    /// leases of MACs that are not `macs`. One line each, for messages.
    public func holders(of address: IPAddress, except macs: Set<MAC>) -> [(who: String, trusted: Bool)] {
        var result: [(String, Bool)] = []
        for network in networks.values.sorted(by: { $0.name < $1.name }) {
            for host in network.hosts where host.address == address && !macs.contains(host.mac) {
                result.append(("the static DHCP host of \(host.mac) on network \(network.name)", true))
            }
        }
        for (bridge, lease) in leases.byAddress[address] ?? [] where !macs.contains(lease.mac) {
            result.append(("the current lease of \(lease.mac) on \(bridge)", false))
        }
        return result
    }
}
