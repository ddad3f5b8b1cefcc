import Foundation
import PortFwdCore
import PortFwdSystem

/// Finds a guest's addresses when neither the config nor its metadata names them, first match
/// wins:
///   1. a static DHCP `<host mac= ip=/>` of the network the guest's interface is on;
///   2. a current dnsmasq lease for that interface's MAC.
/// Addresses found here pass the same checks as configured ones: a loopback, link-local,
/// multicast or broadcast address is never a DNAT target, wherever it was written.
public struct AddressDiscovery: Sendable {
    public let libvirt: LibvirtFiles
    public let now: Date

    public init(libvirt: LibvirtFiles, now: Date = Date()) {
        self.libvirt = libvirt
        self.now = now
    }

    public struct Found: Sendable, Equatable {
        public let address4: IPAddress?
        public let address6: IPAddress?
        public let source: AddressSource
    }

    /// nil when no static host and no current lease is known for any of the interfaces.
    public func discover(_ interfaces: [RunningGuest.Interface], networks: [String: NetworkDefinition]) -> Found? {
        let surroundings = Surroundings(networks: networks)
        for iface in interfaces {
            let hosts = (surroundings.network(of: iface)?.hosts ?? []).filter { $0.mac == iface.mac && $0.address.guestRefusal == nil }
            if !hosts.isEmpty {
                return Found(address4: hosts.first { $0.address.family == .ipv4 }?.address,
                             address6: hosts.first { $0.address.family == .ipv6 }?.address, source: .dhcpHost)
            }
        }
        for iface in interfaces {
            let network = surroundings.network(of: iface)
            guard let bridge = iface.bridge ?? network?.bridge else { continue }
            // A lease outside the network's subnets is not one dnsmasq handed out for it.
            let leased = libvirt.leases(bridge: bridge, mac: iface.mac, now: now).filter { a in
                network.map { n in n.subnets.isEmpty || n.subnet(containing: a) != nil } ?? true
            }
            if !leased.isEmpty {
                return Found(address4: leased.first { $0.family == .ipv4 }, address6: leased.first { $0.family == .ipv6 }, source: .lease)
            }
        }
        return nil
    }
}
