/// What the host looks like around a guest, as far as the metadata policy and address
/// discovery need it: libvirt's networks and the addresses the host holds itself.
/// Read by the system layer (`LibvirtFiles`, `HostAddresses`); a plain value here.
public struct Surroundings: Sendable {
    public var networks: [String: NetworkDefinition]
    public var hostAddresses: Set<IPAddress>

    public init(networks: [String: NetworkDefinition] = [:], hostAddresses: Set<IPAddress> = []) {
        self.networks = networks
        self.hostAddresses = hostAddresses
    }

    /// The libvirt network an interface is attached to: by name for `type='network'`,
    /// else by the bridge it is plugged into.
    public func network(of interface: RunningGuest.Interface) -> NetworkDefinition? {
        if let name = interface.network, let network = networks[name] { return network }
        guard let bridge = interface.bridge else { return nil }
        return networks.values.first { $0.bridge == bridge }
    }
}
