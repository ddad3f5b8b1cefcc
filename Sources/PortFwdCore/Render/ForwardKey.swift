/// A forward as the kernel's counters know it: what its DNAT matched, before translation.
/// Packets are counted by their connection's original destination (`ct original ip daddr`,
/// `ct original proto-dst`), so two forwards to one guest port (8080:80 and 8081:80) count
/// apart, and nothing of the guest's address is in the key: a counter belongs to a forward,
/// never to whatever address a guest happens to hold.
public struct ForwardKey: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let family: Family
    /// nil: every local address.
    public let hostAddress: IPAddress?
    public let proto: Proto
    public let hostPorts: PortRange

    public init(family: Family, hostAddress: IPAddress?, proto: Proto, hostPorts: PortRange) {
        self.family = family
        self.hostAddress = hostAddress
        self.proto = proto
        self.hostPorts = hostPorts
    }

    public init(_ entry: PlanEntry) {
        self.init(family: entry.family, hostAddress: entry.hostAddress, proto: entry.proto, hostPorts: entry.hostPorts)
    }

    /// Which of the three count sets of its family holds it.
    public enum Kind: String, Sendable, CaseIterable {
        /// One port on every local address: a hash of `proto . port`.
        case any
        /// One port on one host address: a hash of `address . proto . port`.
        case bound
        /// A port range (on one address, or on `0.0.0.0/0` for every one): an interval set.
        case ranges
    }

    public var kind: Kind { hostPorts.count > 1 ? .ranges : (hostAddress == nil ? .any : .bound) }

    /// The element's key in its set, as the kernel lists it back.
    public var values: [NftValue] {
        switch kind {
        case .any: return [.proto(proto), .ports(hostPorts)]
        case .bound: return [.address(hostAddress!), .proto(proto), .ports(hostPorts)]
        case .ranges: return [hostAddress.map(NftValue.address) ?? .network(.any(family)), .proto(proto), .ports(hostPorts)]
        }
    }

    /// The key of a count set's element, read back; nil for what no forward of ours counts.
    public init?(family: Family, kind: Kind, _ values: [NftValue]) {
        switch (kind, values.count) {
        case (.any, 2):
            guard case .proto(let p) = values[0], case .ports(let r) = values[1], r.count == 1 else { return nil }
            self.init(family: family, hostAddress: nil, proto: p, hostPorts: r)
        case (.bound, 3), (.ranges, 3):
            guard case .proto(let p) = values[1], case .ports(let r) = values[2] else { return nil }
            let address: IPAddress?
            switch values[0] {
            case .address(let a): address = a
            case .network(let n) where n.prefix == 0: address = nil
            case .network(let n) where n.prefix == n.address.bitWidth: address = n.address
            default: return nil
            }
            guard address?.family ?? family == family else { return nil }
            self.init(family: family, hostAddress: address, proto: p, hostPorts: r)
            guard self.kind == kind else { return nil }
        default:
            return nil
        }
    }

    /// `tcp 8080`, `198.51.100.1 tcp 8443`, `udp 10000-10009` (with `ipv6` where it is one).
    public var description: String {
        (family == .ipv6 && hostAddress == nil ? "ipv6 " : "") + (hostAddress.map { "\($0) " } ?? "") + "\(proto.rawValue) \(hostPorts)"
    }

    public static func < (a: ForwardKey, b: ForwardKey) -> Bool {
        (a.family, a.proto.rawValue, a.hostPorts.lower, a.hostAddress?.description ?? "")
            < (b.family, b.proto.rawValue, b.hostPorts.lower, b.hostAddress?.description ?? "")
    }
}

/// One forward's counters: what entered the forward path after our DNAT (`dnat`, counted before
/// any other firewall looks at it) and what left it (`delivered`, counted after every other
/// firewall's forward chains let it pass). The difference is what something between dropped.
public struct ForwardCounters: Hashable, Sendable {
    /// Whose forward counted them (`PlanEntry.owner`): a swap carries them over only to the
    /// same guest's forward, never to another guest that takes the port or the address later.
    public var owner: String?
    public var dnat: Counts
    /// nil where nothing counts it (a table written before delivery was counted).
    public var delivered: Counts?

    public init(owner: String?, dnat: Counts, delivered: Counts?) {
        self.owner = owner
        self.dnat = dnat
        self.delivered = delivered
    }
}

/// The counters a backend holds, by forward.
public typealias Counters = [ForwardKey: ForwardCounters]

extension Counters {
    /// The counters a plan's entry may carry over from these: only those its own guest counted.
    public func carried(to entry: PlanEntry) -> ForwardCounters? { carried(to: ForwardKey(entry), owner: entry.owner) }

    /// The same, for the entry's key and owner already at hand.
    public func carried(to key: ForwardKey, owner: String) -> ForwardCounters? {
        guard let held = self[key], held.owner == owner else { return nil }
        return held
    }
}

extension GuestName {
    /// 16 hex digits of the name's FNV-1a: a configured guest's owner token in element comments.
    static func digest(_ name: GuestName) -> String {
        var digest = Fingerprint.Digest()
        digest.add(name.value)
        return digest.fingerprint.description
    }
}
