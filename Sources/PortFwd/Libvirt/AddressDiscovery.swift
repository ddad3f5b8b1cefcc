import Foundation

/// Finds a guest's addresses, first match wins:
///   1. an explicit address in the config or the domain's metadata;
///   2. a static DHCP `<host mac= ip=/>` of the network the guest's interface is on;
///   3. a current dnsmasq lease for that interface's MAC;
///   4. otherwise an error saying which of these to add.
public struct AddressDiscovery: Sendable {
    public let paths: LibvirtPaths
    public let now: Date

    public init(paths: LibvirtPaths, now: Date = Date()) {
        self.paths = paths
        self.now = now
    }

    public struct Found: Sendable, Equatable {
        public let address4: IPAddress?
        public let address6: IPAddress?
        public let source: String
    }

    public func addresses(for domain: Domain, explicit4: IPAddress?, explicit6: IPAddress?) throws(ParseError) -> Found {
        if explicit4 != nil || explicit6 != nil {
            return Found(address4: explicit4, address6: explicit6, source: "explicit")
        }
        let networks = NetworkDefinition.load(paths)
        for iface in domain.interfaces {
            let network = iface.network.flatMap { networks[$0] } ?? networks.values.first { $0.bridge != nil && $0.bridge == iface.bridge }
            let hosts = network?.hosts.filter { $0.mac == iface.mac } ?? []
            if !hosts.isEmpty {
                return Found(address4: hosts.first { $0.address.family == .ipv4 }?.address,
                             address6: hosts.first { $0.address.family == .ipv6 }?.address, source: "dhcp-host")
            }
        }
        for iface in domain.interfaces {
            let network = iface.network.flatMap { networks[$0] }
            guard let bridge = iface.bridge ?? network?.bridge else { continue }
            let leased = Leases.current(bridge: bridge, mac: iface.mac, paths: paths, now: now)
            if !leased.isEmpty {
                return Found(address4: leased.first { $0.family == .ipv4 }, address6: leased.first { $0.family == .ipv6 }, source: "lease")
            }
        }
        let macs = domain.interfaces.map(\.mac).joined(separator: ", ")
        throw ParseError("no address for guest \(domain.name): add address = \"...\" to its [[guest]] in the config or <address> to its metadata, "
            + "or a static DHCP <host mac='\(domain.interfaces.first?.mac ?? "MAC")' ip='...'/> to its network"
            + (macs.isEmpty ? " (it has no interface)" : " (no current lease for \(macs) either)"))
    }
}
