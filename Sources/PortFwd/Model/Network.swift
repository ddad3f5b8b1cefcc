/// A client network in CIDR form, used by source restrictions.
/// A bare address means a single host (/32 or /128).
public struct Network: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let address: IPAddress
    public let prefix: Int

    public var family: Family { address.family }

    public static func any(_ family: Family) -> Network { family == .ipv4 ? any4 : any6 }
    // Built once: plans ask for them per forward.
    private static let any4 = Network(address: IPAddress(family: .ipv4, bytes: [UInt8](repeating: 0, count: 4)), prefix: 0)
    private static let any6 = Network(address: IPAddress(family: .ipv6, bytes: [UInt8](repeating: 0, count: 16)), prefix: 0)

    init(address: IPAddress, prefix: Int) {
        self.address = address
        self.prefix = prefix
    }

    /// Parses `ADDR[/PREFIX]`. Host bits must be clear: `203.0.113.5/24` is almost always a typo,
    /// and silently widening or narrowing it would change who gets in.
    public static func parse(_ text: String) throws(ParseError) -> Network {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2, let address = IPAddress(String(parts[0])) else {
            throw ParseError("'\(text)' is not an IP address or CIDR network")
        }
        var prefix = address.bitWidth
        if parts.count == 2 {
            guard let p = Int(parts[1]), parts[1].allSatisfy(\.isASCII), p >= 0, p <= address.bitWidth else {
                throw ParseError("'\(text)' has an invalid prefix length (0-\(address.bitWidth))")
            }
            prefix = p
        }
        let network = Network(address: address, prefix: prefix)
        let masked = network.masked
        guard masked == address else {
            throw ParseError("'\(text)' has host bits set; did you mean \(masked)/\(prefix)?")
        }
        return network
    }

    private var masked: IPAddress {
        var bytes = address.bytes
        for i in 0..<bytes.count {
            let bitsHere = max(0, min(8, prefix - i * 8))
            bytes[i] &= bitsHere == 0 ? 0 : UInt8(truncatingIfNeeded: 0xff << (8 - bitsHere))
        }
        return IPAddress(family: address.family, bytes: bytes)
    }

    public func contains(_ other: IPAddress) -> Bool {
        guard other.family == family else { return false }
        return Network(address: other, prefix: prefix).masked == address
    }

    public var description: String { "\(address)/\(prefix)" }

    public static func < (a: Network, b: Network) -> Bool {
        a.address != b.address ? a.address < b.address : a.prefix < b.prefix
    }

    /// Sorted, without duplicates and without networks inside another one of the list.
    /// nft refuses overlapping elements in an interval set, and the result admits the same clients.
    public static func minimalCover(_ networks: [Network]) -> [Network] {
        if networks.count < 2 { return networks }
        let sorted = Set(networks).sorted { a, b in a.prefix != b.prefix ? a.prefix < b.prefix : a < b }
        var kept: [Network] = []
        for n in sorted where !kept.contains(where: { $0.prefix <= n.prefix && $0.contains(n.address) }) {
            kept.append(n)
        }
        return kept.sorted()
    }
}
