/// Where an address that a guest controls may point: its metadata's `<address>` (anyone
/// allowed `virsh metadata` on it writes that) and its DHCP lease (its own DHCP client asks
/// for that). Such an address must be one the guest can hold: in the subnet of a libvirt
/// network one of its interfaces is on, and not that network's gateway, network or broadcast
/// address, nor one the host owns. Otherwise the host would forward to itself (its bridge
/// address, a service on 22) or to 169.254.169.254. Whether another guest holds it is the
/// resolver's question (`Resolver`): that depends on every guest at once.
public struct AddressPolicy: Sendable {
    public enum Source: String, Sendable {
        case metadata, lease
    }

    public let settings: Settings

    public init(settings: Settings) { self.settings = settings }

    /// Why `address` may not be the guest's, or nil when it may.
    public func problem(_ address: IPAddress, source: Source, guest: GuestName, interfaces: [RunningGuest.Interface],
                        surroundings: Surroundings) -> String? {
        let key = source == .metadata ? "guest \(guest): metadata \(address.family.addressKey) \(address)"
            : "guest \(guest): lease address \(address)"
        if let refusal = address.guestRefusal { return "\(key): \(refusal)" }
        if surroundings.hostAddresses.contains(address) || settings.floatingAddresses.contains(address) {
            return "\(key) is an address of this host"
        }
        let networks = interfaces.compactMap { surroundings.network(of: $0) }
        // The escape hatch for routed setups the policy cannot see is the admin's, for metadata;
        // a lease is always held to the network it was handed out on. Routed means beyond
        // libvirt's networks: an address in one the guest is not on is another guest's to use.
        if source == .metadata && settings.metadataAddress == .any {
            let attached = Set(networks.map(\.name))
            guard let other = surroundings.networks.values.sorted(by: { $0.name < $1.name })
                .first(where: { !attached.contains($0.name) && $0.subnet(containing: address) != nil }) else { return nil }
            return "\(key) is in libvirt network \(other.name)'s subnet, and the guest is not attached to it "
                + "(settings.metadata-address = \"any\" is for addresses routed beyond libvirt's networks)"
        }
        guard let subnet = networks.lazy.compactMap({ $0.subnet(containing: address) }).first else {
            let known = networks.flatMap { $0.subnets.filter { $0.network.family == address.family }.map(\.network.description) }
            return "\(key) is not in the subnet of a libvirt network the guest is attached to"
                + (known.isEmpty ? " (it is on none with an \(address.family.label) subnet)" : " (\(known.joined(separator: ", ")))")
                + (source == .metadata ? "; settings.metadata-address = \"any\" lifts this" : "")
        }
        if address == subnet.gateway { return "\(key) is the network's own (gateway) address" }
        if address == subnet.network.address && subnet.network.prefix < address.bitWidth - 1 {
            return "\(key) is the network address of \(subnet.network)"
        }
        if address == subnet.network.broadcast { return "\(key) is the broadcast address of \(subnet.network)" }
        return nil
    }
}
