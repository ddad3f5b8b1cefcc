#if canImport(Glibc)
import Glibc
#endif

/// The two address families a forward can live in, each carrying its own spellings, so that
/// renderers and drivers never branch on `family == .ipv4`.
public enum Family: String, Sendable, Codable, CaseIterable, Comparable {
    case ipv4, ipv6

    public static func < (a: Family, b: Family) -> Bool { a == .ipv4 && b == .ipv6 }

    /// nftables' family keyword and address match: `ip`, `ip6`.
    public var nft: String { self == .ipv4 ? "ip" : "ip6" }
    /// The suffix of our per-family set and chain names: `dnat4`, `dnat6`.
    public var suffix: String { self == .ipv4 ? "4" : "6" }
    /// nftables' address type: `ipv4_addr`, `ipv6_addr`.
    public var addressType: String { self == .ipv4 ? "ipv4_addr" : "ipv6_addr" }
    /// iptables' command stem: `iptables`, `ip6tables`.
    public var iptables: String { self == .ipv4 ? "iptables" : "ip6tables" }
    /// Address width in bits, the prefix length of a single host.
    public var bits: Int { self == .ipv4 ? 32 : 128 }
    public var byteCount: Int { bits / 8 }
    /// For messages: `IPv4`, `IPv6`.
    public var label: String { self == .ipv4 ? "IPv4" : "IPv6" }
    /// The config and metadata key holding a guest's address of this family.
    public var addressKey: String { self == .ipv4 ? "address" : "address6" }
    /// The socket address family: `AF_INET`, `AF_INET6`.
    public var socketFamily: Int32 { self == .ipv4 ? AF_INET : AF_INET6 }
    /// The /proc/net file listing the legacy iptables tables loaded: `ip_tables_names`, `ip6_tables_names`.
    public var legacyTablesFile: String { self == .ipv4 ? "ip_tables_names" : "ip6_tables_names" }
    /// The prefix libvirt assumes for a network of this family that names none: IPv6's 64;
    /// IPv4 has no default (a netmask or a prefix must be given).
    public var defaultPrefix: Int? { self == .ipv4 ? nil : 64 }
    /// How an address of this family is written next to a port: `a.b.c.d`, `[x::y]`.
    public func bracketed(_ address: IPAddress) -> String { self == .ipv4 ? address.description : "[\(address)]" }
}
