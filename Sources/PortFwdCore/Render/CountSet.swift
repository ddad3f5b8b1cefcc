/// One of our count sets: which side of the forward path counts into it, for which family and
/// kind of forward. Named `fwd4_any` (DNATed, IPv4, one port on every address), `dlv6_ranges`
/// (delivered, IPv6, port ranges) and so on.
public struct CountSet: Hashable, Sendable {
    public enum Side: String, Sendable, CaseIterable {
        /// Counted as the packet enters the forward path, before any other firewall's chains.
        case dnat = "fwd"
        /// Counted as it leaves it, after every other firewall's forward chains let it pass.
        case delivered = "dlv"
    }

    public let side: Side
    public let family: Family
    public let kind: ForwardKey.Kind

    public init(_ side: Side, _ family: Family, _ kind: ForwardKey.Kind) {
        self.side = side
        self.family = family
        self.kind = kind
    }

    public init?(name: String) {
        guard let found = Self.all.first(where: { $0.name == name }) else { return nil }
        self = found
    }

    public static let all: [CountSet] = Side.allCases.flatMap { side in
        Family.allCases.flatMap { family in ForwardKey.Kind.allCases.map { CountSet(side, family, $0) } }
    }

    /// The count sets `plan` puts elements into: both sides of each family and kind its
    /// forwards use, in `all`'s order. A counter is carried only to the forward of its own key
    /// (`Counters.carried(to:)`), and a key's family and kind name one set of each side, so
    /// what any other set holds would be carried to nothing: a swap reads only these.
    public static func filled(by plan: Plan) -> [CountSet] {
        let used = Set(plan.entries.map { entry in CountSet(.dnat, entry.family, ForwardKey(entry).kind) })
        return all.filter { used.contains(CountSet(.dnat, $0.family, $0.kind)) }
    }

    public var name: String { "\(side.rawValue)\(family.suffix)_\(kind.rawValue)" }

    public var key: [NftField] { kind == .any ? [.proto, .service] : [.address(family), .proto, .service] }

    public var comment: String {
        let what = side == .dnat ? "DNATed" : "delivered"
        switch kind {
        case .any: return "proto . host port: \(what) traffic of forwards on every local address"
        case .bound: return "host address . proto . host port: \(what) traffic of forwards bound to an address"
        case .ranges: return "host address (or every one) . proto . host ports: \(what) traffic of port ranges"
        }
    }

    /// The rule that counts one protocol's packets into this set, by their connection's
    /// original destination: `ct original proto-dst` needs the protocol named before it. It
    /// returns on a match, so a packet is looked up once in the usual case (one port on every
    /// address), whatever the number of forwards. Its role names set and protocol: `fwd4_any-tcp`.
    public func rule(_ proto: Proto) -> NftRule {
        let port = "ct original proto-dst", role = "\(name)-\(proto.rawValue)"
        switch kind {
        case .any:
            return NftRule("meta nfproto \(family.nftproto) meta l4proto \(proto.rawValue) meta l4proto . \(port) @\(name) return", role: role)
        case .bound, .ranges:
            return NftRule("meta l4proto \(proto.rawValue) ct original \(family.nft) daddr . meta l4proto . \(port) @\(name) return", role: role)
        }
    }
}

extension Family {
    /// nftables' `meta nfproto` value: `ipv4`, `ipv6`.
    var nftproto: String { rawValue }
}
