/// One DHCP lease as libvirt's lease helper records it for dnsmasq. A guest's DHCP client
/// chooses what it asks for, so a lease is a claim by the guest, never the admin's word.
public struct Lease: Sendable, Hashable {
    public let mac: MAC
    public let address: IPAddress
    /// Seconds since 1970; 0 means the lease never expires.
    public let expiry: Int64
    /// The DHCP client identifier (DHCPv4 option 61, or the DHCPv6 DUID) the lease was handed
    /// out for, as libvirt's helper records it; nil when the client sent none. dnsmasq keys
    /// leases by it before the MAC, so one MAC can hold several leases of different clients:
    /// the MAC in a DHCP request is whatever the sender wrote.
    public let clientID: String?

    public init(mac: MAC, address: IPAddress, expiry: Int64, clientID: String? = nil) {
        self.mac = mac
        self.address = address
        self.expiry = expiry
        self.clientID = clientID
    }

    /// The client identity as a record keeps it: "" for none.
    public var client: String { clientID ?? "" }

    /// A client identity as libvirt's helper prints it: hex bytes joined by colons (a DUID
    /// or option 61 is at most 128 bytes), or "" for none.
    public static func isClientID(_ text: String) -> Bool {
        text.utf8.count <= 3 * 130 && text.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x66) || $0 == 0x3a }
    }

    public func isCurrent(at now: Int64) -> Bool { expiry == 0 || expiry > now }

    /// Newer first: a lease that never expires, then the latest expiry. Of two current leases
    /// for one MAC, dnsmasq handed out the newer one last.
    public static func newerFirst(_ a: Lease, _ b: Lease) -> Bool {
        if (a.expiry == 0) != (b.expiry == 0) { return a.expiry == 0 }
        if a.expiry != b.expiry { return a.expiry > b.expiry }
        return a.address < b.address
    }
}

/// The current leases of every bridge, by MAC and by address: what address discovery and the
/// address rule look up, without scanning a lease database per guest.
public struct LeaseTable: Sendable {
    public private(set) var byMAC: [String: [MAC: [Lease]]] = [:]
    public private(set) var byAddress: [IPAddress: [(bridge: String, lease: Lease)]] = [:]

    public init() {}

    /// Adds a bridge's current leases (`leases` newest first per MAC, see `Lease.newerFirst`).
    public mutating func add(bridge: String, _ leases: [Lease]) {
        var macs: [MAC: [Lease]] = [:]
        for lease in leases.sorted(by: Lease.newerFirst) {
            macs[lease.mac, default: []].append(lease)
            byAddress[lease.address, default: []].append((bridge, lease))
        }
        byMAC[bridge] = macs
    }

    /// Current leases for `mac` on `bridge`, newest first.
    public func leases(bridge: String, mac: MAC) -> [Lease] { byMAC[bridge]?[mac] ?? [] }
}
