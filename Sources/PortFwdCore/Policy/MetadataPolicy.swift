/// What a domain's own `<metadata>` may open. Anyone allowed `virsh metadata` on one guest can
/// write it, so it gets the admin's limits (settings.metadata-*), checked when the guest starts
/// and again at every plan, so that tightening the policy and re-applying drops what it no
/// longer allows.
public struct MetadataPolicy: Sendable {
    public let settings: Settings

    public init(settings: Settings) { self.settings = settings }

    /// Every reason the metadata's forwards are refused, one line each; empty when allowed.
    public func forwardProblems(_ forwards: [Forward], guest: GuestName) -> [String] {
        var problems: [String] = []
        if forwards.count > settings.metadataMaxForwards {
            problems.append("guest \(guest): metadata declares \(forwards.count) forwards, more than settings.metadata-max-forwards (\(settings.metadataMaxForwards))")
        }
        let ports = forwards.reduce(0) { $0 + $1.spec.hostPorts.count }
        if ports > settings.metadataMaxPorts {
            problems.append("guest \(guest): metadata forwards cover \(ports) host ports, more than settings.metadata-max-ports (\(settings.metadataMaxPorts))")
        }
        for f in forwards where !settings.metadataHostPorts.contains(where: { $0.contains(f.spec.hostPorts) }) {
            let allowed = settings.metadataHostPorts.map(\.description).joined(separator: ", ")
            problems.append("guest \(guest): metadata forward \(f.spec) uses host ports outside settings.metadata-host-ports (\(allowed.isEmpty ? "none" : allowed))")
        }
        return problems
    }

    /// Why the metadata may not name `address` as the guest's own, or nil when it may.
    /// With `metadata-address = "interface-network"` (the default) it must be an address the
    /// guest can hold: in the subnet of a libvirt network one of its interfaces is on, and not
    /// that network's gateway, network or broadcast address, nor one the host owns, nor one
    /// another running guest has. Otherwise the host would forward to itself (its bridge
    /// address, a service on 22), to a neighbour's guest, or to 169.254.169.254.
    public func addressProblem(_ address: IPAddress, guest: GuestName, interfaces: [RunningGuest.Interface],
                               surroundings: Surroundings, others: [(name: GuestName, address: IPAddress)]) -> String? {
        let key = "guest \(guest): metadata \(address.family.addressKey) \(address)"
        if let refusal = address.guestRefusal { return "\(key): \(refusal)" }
        if surroundings.hostAddresses.contains(address) { return "\(key) is an address of this host" }
        if let other = others.first(where: { $0.address == address && $0.name != guest }) {
            return "\(key) is already the address of running guest \(other.name)"
        }
        guard settings.metadataAddress == .interfaceNetwork else { return nil }
        let networks = interfaces.compactMap { surroundings.network(of: $0) }
        guard let subnet = networks.lazy.compactMap({ $0.subnet(containing: address) }).first else {
            let known = networks.flatMap { $0.subnets.filter { $0.network.family == address.family }.map(\.network.description) }
            return "\(key) is not in the subnet of a libvirt network the guest is attached to"
                + (known.isEmpty ? " (it is on none with an \(address.family.label) subnet)" : " (\(known.joined(separator: ", ")))")
                + "; settings.metadata-address = \"any\" lifts this"
        }
        if address == subnet.gateway { return "\(key) is the network's own (gateway) address" }
        if address == subnet.network.address && subnet.network.prefix < address.bitWidth - 1 { return "\(key) is the network address of \(subnet.network)" }
        if address == subnet.network.broadcast { return "\(key) is the broadcast address of \(subnet.network)" }
        return nil
    }
}
