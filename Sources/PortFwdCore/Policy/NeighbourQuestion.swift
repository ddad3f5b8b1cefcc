/// The host's own question to one MAC about one address, and what counts as its answer: an ARP
/// request (IPv4) or a neighbour solicitation (IPv6) sent as a frame to that MAC, answered by a
/// frame from that MAC that says it holds the address.
///
/// Why ask at all: the neighbour table says what the host last heard, and others write it.
/// dnsmasq, answering a DHCPREQUEST that lacks the broadcast flag, puts the client's new
/// address into the ARP table at the MAC the request names, and any guest may name another
/// guest's MAC there. Only the guest behind that MAC answers the host's own question (a guest
/// that forges frames at another's MAC is what libvirt's clean-traffic filter stops).
/// Frames only; the socket is the system layer's.
public struct NeighbourQuestion: Sendable, Equatable {
    public let address: IPAddress
    public let mac: [UInt8]
    /// The asking interface's MAC, and its address to answer to: an IPv4 address of its own in
    /// the guest's subnet, or its IPv6 link-local address. nil: an ARP probe (sender 0.0.0.0,
    /// RFC 5227) or a duplicate-address solicitation (source ::), which a holder answers too.
    public let ownMAC: [UInt8]
    public let ownAddress: IPAddress?

    public static let arp: UInt16 = 0x0806
    public static let ipv6: UInt16 = 0x86dd

    public init?(address: IPAddress, mac: MAC, ownMAC: [UInt8], ownAddress: IPAddress?) {
        guard let octets = Self.octets(mac), ownMAC.count == 6, ownAddress.map({ $0.family == address.family }) ?? true else { return nil }
        self.address = address
        self.mac = octets
        self.ownMAC = ownMAC
        self.ownAddress = ownAddress
    }

    /// The Ethernet type the answer comes in.
    public var etherType: UInt16 { address.family == .ipv4 ? Self.arp : Self.ipv6 }

    /// The whole frame, Ethernet header first, sent to the guest's MAC only.
    public var frame: [UInt8] {
        // Appended piece by piece, with their types written out: Debian's Swift 6.0.3 gives up
        // on one long sum of arrays.
        var f: [UInt8] = mac
        f.append(contentsOf: ownMAC)
        f.append(contentsOf: Self.be16(etherType))
        if address.family == .ipv4 {
            // htype Ethernet, ptype IPv4, hlen 6, plen 4, op request.
            let header: [UInt8] = [0, 1, 0x08, 0x00, 6, 4, 0, 1]
            let sender: [UInt8] = ownAddress?.bytes ?? [0, 0, 0, 0]
            let unknown = [UInt8](repeating: 0, count: 6)
            f.append(contentsOf: header)
            f.append(contentsOf: ownMAC)
            f.append(contentsOf: sender)
            f.append(contentsOf: unknown)
            f.append(contentsOf: address.bytes)
            return f
        }
        // A solicitation with a source is sent to the address itself (RFC 4861 7.2.2, unicast
        // reachability), with our link-layer address; one from :: must go to the solicited-node
        // group, or the guest's kernel drops it as a bad duplicate-address probe.
        let source: [UInt8] = ownAddress?.bytes ?? [UInt8](repeating: 0, count: 16)
        var destination: [UInt8] = address.bytes
        if ownAddress == nil {
            destination = [0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff]
            destination.append(contentsOf: address.bytes[13...])
        }
        var icmp: [UInt8] = [135, 0, 0, 0, 0, 0, 0, 0]
        icmp.append(contentsOf: address.bytes)
        if ownAddress != nil {
            let option: [UInt8] = [1, 1]
            icmp.append(contentsOf: option)
            icmp.append(contentsOf: ownMAC)
        }
        let sum = Self.checksum(source: source, destination: destination, icmp: icmp)
        icmp[2] = UInt8(sum >> 8)
        icmp[3] = UInt8(sum & 0xff)
        let version: [UInt8] = [0x60, 0, 0, 0]
        let next: [UInt8] = [58, 255]
        f.append(contentsOf: version)
        f.append(contentsOf: Self.be16(UInt16(icmp.count)))
        f.append(contentsOf: next)
        f.append(contentsOf: source)
        f.append(contentsOf: destination)
        f.append(contentsOf: icmp)
        return f
    }

    /// Whether a received frame (Ethernet header first) is the answer: sent from the guest's MAC,
    /// saying that MAC holds the address.
    public func isAnswer(_ frame: ArraySlice<UInt8>) -> Bool {
        let f = Array(frame)
        guard f.count >= 14, Array(f[6..<12]) == mac, Self.read16(f, 12) == etherType else { return false }
        if address.family == .ipv4 {
            // An ARP reply (or a request the holder sends, naming itself) from that MAC.
            guard f.count >= 42, Self.read16(f, 14) == 1, Self.read16(f, 16) == 0x0800, f[18] == 6, f[19] == 4 else { return false }
            return Self.read16(f, 20) == 2 && Array(f[22..<28]) == mac && Array(f[28..<32]) == address.bytes
        }
        // IPv6, next header ICMPv6, hop limit 255 (from the link itself), a neighbour
        // advertisement for the address.
        guard f.count >= 14 + 40 + 24, f[14] >> 4 == 6, f[20] == 58, f[21] == 255 else { return false }
        let icmp = 54
        return f[icmp] == 136 && f[icmp + 1] == 0 && Array(f[(icmp + 8)..<(icmp + 24)]) == address.bytes
    }

    public static func octets(_ mac: MAC) -> [UInt8]? {
        let parts = mac.value.split(separator: ":").compactMap { UInt8($0, radix: 16) }
        return parts.count == 6 ? parts : nil
    }

    static func be16(_ v: UInt16) -> [UInt8] { [UInt8(v >> 8), UInt8(v & 0xff)] }
    static func read16(_ f: [UInt8], _ at: Int) -> UInt16 { UInt16(f[at]) << 8 | UInt16(f[at + 1]) }

    /// ICMPv6's checksum over the pseudo-header (RFC 8200 8.1) and the message.
    static func checksum(source: [UInt8], destination: [UInt8], icmp: [UInt8]) -> UInt16 {
        let length = UInt32(icmp.count)
        var words: [UInt8] = source
        words.append(contentsOf: destination)
        let upper: [UInt8] = [UInt8(length >> 24), UInt8((length >> 16) & 0xff), UInt8((length >> 8) & 0xff), UInt8(length & 0xff)]
        let header: [UInt8] = [0, 0, 0, 58]
        words.append(contentsOf: upper)
        words.append(contentsOf: header)
        words.append(contentsOf: icmp)
        if words.count % 2 == 1 { words.append(0) }
        var sum: UInt32 = 0
        var i = 0
        while i < words.count {
            let high = UInt32(words[i]) << 8
            sum += high | UInt32(words[i + 1])
            i += 2
        }
        while sum >> 16 != 0 { sum = (sum & 0xffff) + (sum >> 16) }
        return ~UInt16(sum)
    }
}
