/// The kind of one field of a set's key or a map's data, as nftables names its types.
public enum NftField: Hashable, Sendable, CustomStringConvertible {
    case address(Family)
    case proto
    case service
    /// A type this tool never declares (`ifname`, ...), by its name: a set of it is someone
    /// else's, and its values stay unreadable.
    case other(String)

    /// `ipv4_addr`, `inet_proto`, `inet_service`.
    public var description: String {
        switch self {
        case .address(let family): return family.addressType
        case .proto: return "inet_proto"
        case .service: return "inet_service"
        case .other(let name): return name
        }
    }

    /// The field nftables calls `name`.
    public init(_ name: String) {
        switch name {
        case "inet_proto": self = .proto
        case "inet_service": self = .service
        default:
            if let family = Family.allCases.first(where: { $0.addressType == name }) { self = .address(family) } else { self = .other(name) }
        }
    }
}

/// One value of a set element, typed. Printed by the model's own `description`s, never from
/// input text; a kernel value this tool cannot read is kept as `unreadable`, shown in drift
/// and never equal to a value of ours.
public enum NftValue: Hashable, Sendable, CustomStringConvertible {
    case address(IPAddress)
    case network(Network)
    case proto(Proto)
    /// A port is a range of one.
    case ports(PortRange)
    case unreadable(String)

    public var description: String {
        switch self {
        case .address(let a): return a.description
        case .network(let n): return n.description
        case .proto(let p): return p.rawValue
        case .ports(let r): return r.description
        case .unreadable(let text): return text
        }
    }

    /// A network of one host is that host: we write `192.0.2.1/32`, nft lists `192.0.2.1`.
    private var host: IPAddress? {
        switch self {
        case .address(let a): return a
        case .network(let n) where n.prefix == n.address.bitWidth: return n.address
        default: return nil
        }
    }

    public static func == (a: NftValue, b: NftValue) -> Bool {
        if let x = a.host, let y = b.host { return x == y }
        switch (a, b) {
        case let (.network(x), .network(y)): return x == y
        case let (.proto(x), .proto(y)): return x == y
        case let (.ports(x), .ports(y)): return x == y
        case let (.unreadable(x), .unreadable(y)): return x == y
        default: return false
        }
    }

    public func hash(into hasher: inout Hasher) {
        if let host { hasher.combine(0); hasher.combine(host); return }
        switch self {
        case .network(let n): hasher.combine(1); hasher.combine(n)
        case .proto(let p): hasher.combine(2); hasher.combine(p)
        case .ports(let r): hasher.combine(3); hasher.combine(r)
        case .unreadable(let text): hasher.combine(4); hasher.combine(text)
        case .address: break
        }
    }
}
