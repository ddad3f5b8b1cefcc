/// A libvirt network's name, bridge, subnets and static DHCP hosts, from its XML (a definition,
/// or the `<networkstatus>` wrapper libvirt keeps under /run).
public struct NetworkDefinition: Sendable, Equatable {
    /// A `<host>` of the network's `<dhcp>`: the address libvirt's dnsmasq gives one MAC.
    public struct StaticHost: Sendable, Equatable {
        public let mac: MAC
        public let address: IPAddress
    }

    /// One `<ip>` element: the host's own address on the bridge and the subnet around it.
    public struct Subnet: Sendable, Equatable {
        public let gateway: IPAddress
        public let network: Network
    }

    public let name: String
    public let bridge: String?
    public let subnets: [Subnet]
    public let hosts: [StaticHost]
    /// No `<forward>`: libvirt lets its guests reach nothing beyond the bridge.
    public let isolated: Bool

    public init(name: String, bridge: String?, subnets: [Subnet] = [], hosts: [StaticHost] = [], isolated: Bool = false) {
        self.name = name
        self.bridge = bridge
        self.subnets = subnets
        self.hosts = hosts
        self.isolated = isolated
    }

    /// Bridge names come from XML and lease file names; only interface-name characters (at
    /// most 15, no leading dot) ever reach a path or a rule.
    public static func isInterfaceName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 15 && !name.hasPrefix(".")
            && name.utf8.allSatisfy {
                ($0 >= 0x30 && $0 <= 0x39) || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x7a) || $0 == 0x2d || $0 == 0x5f || $0 == 0x2e
            }
    }

    public init(_ root: XMLNode) throws(PortFwdError) {
        var root = root
        if root.name == "networkstatus", let inner = root.child("network") { root = inner }
        guard root.name == "network", let name = root.child("name")?.trimmedText else {
            throw PortFwdError(.invalidInput, "not a network XML")
        }
        var hosts: [StaticHost] = []
        var subnets: [Subnet] = []
        for ip in root.children("ip") {
            if let text = ip.attributes["address"], let gateway = IPAddress(text), let prefix = Self.prefix(of: ip, family: gateway.family) {
                subnets.append(Subnet(gateway: gateway, network: Network(masking: gateway, prefix: prefix)))
            }
            for host in ip.child("dhcp")?.children("host") ?? [] {
                guard let mac = host.attributes["mac"].flatMap(MAC.init), let text = host.attributes["ip"],
                      let address = IPAddress(text) else { continue }
                hosts.append(StaticHost(mac: mac, address: address))
            }
        }
        self.init(name: name, bridge: root.child("bridge")?.attributes["name"], subnets: subnets, hosts: hosts,
                  isolated: root.child("forward") == nil)
    }

    /// `prefix='24'`, or `netmask='255.255.255.0'` (IPv4 only).
    private static func prefix(of ip: XMLNode, family: Family) -> Int? {
        if let text = ip.attributes["prefix"] { return Int(text).flatMap { (0...family.bits).contains($0) ? $0 : nil } }
        guard family == .ipv4, let text = ip.attributes["netmask"], let mask = IPAddress(text), mask.family == .ipv4 else {
            return family.defaultPrefix
        }
        let bits = mask.bytes.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        let ones = bits.leadingZeroBitCount == 0 ? (~bits).leadingZeroBitCount : 0
        // A netmask must be contiguous ones.
        return bits == (ones == 0 ? 0 : UInt32.max << (32 - ones)) ? ones : nil
    }

    /// The subnet of this network holding `address`, if any.
    public func subnet(containing address: IPAddress) -> Subnet? { subnets.first { $0.network.contains(address) } }
}
