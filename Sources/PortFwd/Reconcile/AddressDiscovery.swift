import PortFwdCore

/// Finds a guest's addresses when neither the config nor its metadata names them, first match
/// wins:
///   1. a static DHCP `<host mac= ip=/>` of the network the guest's interface is on;
///   2. the guest's own current dnsmasq lease (`LeaseAttribution`: by the client identity it
///      has been using, not by its MAC alone).
/// What is found here is only a claim: the resolver holds it to the address rules (a lease is
/// the guest's own word, and another guest may hold the same address).
public struct AddressDiscovery: Sendable {
    public let surroundings: Surroundings

    public init(surroundings: Surroundings) { self.surroundings = surroundings }

    public struct Found: Sendable, Equatable {
        public let address4: IPAddress?
        public let address6: IPAddress?
        public let source: AddressSource
        /// For a lease: the client identity of each family's lease.
        public let clients: [Family: String]
    }

    /// nil when no static host and no lease of the guest's is known for any of the interfaces.
    /// - Parameters:
    ///   - known: the client identity the guest's leases have been of, per family.
    ///   - current: the addresses the guest has now (see `LeaseAttribution.choose`).
    public func discover(_ interfaces: [RunningGuest.Interface], known: [Family: String] = [:],
                         current: [Family: IPAddress] = [:]) -> Found? {
        for iface in interfaces {
            let hosts = (surroundings.network(of: iface)?.hosts ?? []).filter { $0.mac == iface.mac && $0.address.guestRefusal == nil }
            if !hosts.isEmpty {
                return Found(address4: hosts.first { $0.address.family == .ipv4 }?.address,
                             address6: hosts.first { $0.address.family == .ipv6 }?.address, source: .dhcpHost, clients: [:])
            }
        }
        var found: [Family: IPAddress] = [:], clients: [Family: String] = [:]
        for family in Family.allCases {
            let choice = LeaseAttribution.choose(family, interfaces: interfaces, known: known[family], current: current[family],
                                                 surroundings: surroundings)
            if case .lease(let address, let client) = choice {
                found[family] = address
                // A client identity binds the guest (once bound, it stays) only once its lease's
                // address is answered for at the guest's own MAC: a lease forged for its MAC
                // before it started (its own released or expired) would otherwise be its
                // identity for good, and its own client's lease would move nothing.
                let macs = Set(interfaces.map(\.mac))
                let bridges = surroundings.bridges(for: address, interfaces: interfaces)
                if client == known[family] || surroundings.uses(address, at: macs, on: bridges) { clients[family] = client }
            }
        }
        guard !found.isEmpty else { return nil }
        return Found(address4: found[.ipv4], address6: found[.ipv6], source: .lease, clients: clients)
    }
}
