/// A network in CIDR form: a client network in a source restriction, or the subnet of a
/// libvirt network. A bare address means a single host (/32 or /128).
public struct Network: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The network address: host bits are always clear.
    public let address: IPAddress
    public let prefix: Int

    public var family: Family { address.family }

    public static func any(_ family: Family) -> Network { family == .ipv4 ? any4 : any6 }
    // Built once: plans ask for them per forward.
    private static let any4 = Network(masking: IPAddress(family: .ipv4, bytes: [0, 0, 0, 0]), prefix: 0)
    private static let any6 = Network(masking: IPAddress(family: .ipv6, bytes: [UInt8](repeating: 0, count: 16)), prefix: 0)

    /// 127.0.0.0/8 and ::1/128: never reachable from another host.
    public static func loopback(_ family: Family) -> Network {
        family == .ipv4 ? Network(masking: IPAddress(family: .ipv4, bytes: [127, 0, 0, 0]), prefix: 8)
            : Network(masking: IPAddress(family: .ipv6, bytes: [UInt8](repeating: 0, count: 15) + [1]), prefix: 128)
    }

    /// The network that `address` lies in; host bits are cleared.
    public init(masking address: IPAddress, prefix: Int) {
        precondition(prefix >= 0 && prefix <= address.bitWidth)
        var bytes = address.bytes
        for i in 0..<bytes.count {
            let bitsHere = max(0, min(8, prefix - i * 8))
            bytes[i] &= bitsHere == 0 ? 0 : UInt8(truncatingIfNeeded: 0xff << (8 - bitsHere))
        }
        self.address = IPAddress(family: address.family, bytes: bytes)
        self.prefix = prefix
    }

    /// Parses `ADDR[/PREFIX]`. Host bits must be clear: `203.0.113.5/24` is almost always a typo,
    /// and silently widening or narrowing it would change who gets in.
    public static func parse(_ text: String) throws(PortFwdError) -> Network {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2, let address = IPAddress(String(parts[0])) else {
            throw PortFwdError(.invalidInput, "'\(text)' is not an IP address or CIDR network")
        }
        var prefix = address.bitWidth
        if parts.count == 2 {
            guard let p = Int(parts[1]), parts[1].allSatisfy(\.isASCII), p >= 0, p <= address.bitWidth else {
                throw PortFwdError(.invalidInput, "'\(text)' has an invalid prefix length (0-\(address.bitWidth))")
            }
            prefix = p
        }
        let network = Network(masking: address, prefix: prefix)
        guard network.address == address else {
            throw PortFwdError(.invalidInput, "'\(text)' has host bits set; did you mean \(network)?")
        }
        return network
    }

    public func contains(_ other: IPAddress) -> Bool {
        other.family == family && Network(masking: other, prefix: prefix).address == address
    }

    /// The IPv4 broadcast address of this subnet; nil for IPv6 and for /31 and /32.
    public var broadcast: IPAddress? {
        guard family == .ipv4, prefix < 31 else { return nil }
        var bytes = address.bytes
        for i in 0..<4 {
            let hostBits = 8 - max(0, min(8, prefix - i * 8))
            bytes[i] |= UInt8(truncatingIfNeeded: (1 << hostBits) - 1)
        }
        return IPAddress(family: .ipv4, bytes: bytes)
    }

    public var description: String { "\(address)/\(prefix)" }

    public static func < (a: Network, b: Network) -> Bool {
        a.address != b.address ? a.address < b.address : a.prefix < b.prefix
    }

    /// Sorted, without duplicates and without networks inside another one of the list.
    /// nft refuses overlapping elements in an interval set, and the result admits the same clients.
    ///
    /// One sort and one pass: two CIDR blocks are either nested or apart, so once sorted by
    /// start (the bigger block first on a tie), a block inside any kept one is inside the last
    /// one kept. (A pairwise check took minutes on a guest owner's list of 5,000 sources.)
    public static func minimalCover(_ networks: [Network]) -> [Network] {
        if networks.count < 2 { return networks }
        var kept: [Network] = []
        for n in networks.sorted() {
            if let last = kept.last, last.family == n.family, last.prefix <= n.prefix, last.contains(n.address) { continue }
            kept.append(n)
        }
        return kept
    }
}
