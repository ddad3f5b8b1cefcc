import PortFwdCore

/// Finds a guest's addresses when neither the config nor its metadata names them, first match
/// wins:
///   1. a static DHCP `<host mac= ip=/>` of the network the guest's interface is on;
///   2. the newest current dnsmasq lease for that interface's MAC.
/// What is found here is only a claim: the resolver holds it to the address rules (a lease is
/// the guest's own word, and another guest may hold the same address).
public struct AddressDiscovery: Sendable {
    public let surroundings: Surroundings

    public init(surroundings: Surroundings) { self.surroundings = surroundings }

    public struct Found: Sendable, Equatable {
        public let address4: IPAddress?
        public let address6: IPAddress?
        public let source: AddressSource
    }

    /// nil when no static host and no current lease is known for any of the interfaces.
    public func discover(_ interfaces: [RunningGuest.Interface]) -> Found? {
        for iface in interfaces {
            let hosts = (surroundings.network(of: iface)?.hosts ?? []).filter { $0.mac == iface.mac && $0.address.guestRefusal == nil }
            if !hosts.isEmpty {
                return Found(address4: hosts.first { $0.address.family == .ipv4 }?.address,
                             address6: hosts.first { $0.address.family == .ipv6 }?.address, source: .dhcpHost)
            }
        }
        for iface in interfaces {
            guard let bridge = iface.bridge ?? surroundings.network(of: iface)?.bridge else { continue }
            let leased = surroundings.leases.leases(bridge: bridge, mac: iface.mac).map(\.address)
            if !leased.isEmpty {
                return Found(address4: leased.first { $0.family == .ipv4 }, address6: leased.first { $0.family == .ipv6 }, source: .lease)
            }
        }
        return nil
    }
}
