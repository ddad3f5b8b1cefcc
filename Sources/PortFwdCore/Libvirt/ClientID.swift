/// A DHCP client's identity as dnsmasq reports it: the client identifier (option 61) of an
/// IPv4 client, or the DUID of a DHCPv6 one, which libvirt's lease helper records as
/// `client-id`, printed as hex bytes joined by colons (`01:52:54:00:12:34:56`).
///
/// A guest's DHCP client chooses it, so it is a claim like the lease itself; what it adds is
/// that a forged request for another guest's MAC carries the forger's own identifier, unless
/// the forger copies the victim's too. Kept as bytes, printed back lower-case.
public struct ClientID: Hashable, Sendable, CustomStringConvertible {
    public let bytes: [UInt8]

    /// A client identifier option holds at most 255 bytes; a DUID at most 130.
    public static let maximumLength = 255

    /// `text`: one to 255 bytes as two hex digits each, joined by single colons, nothing else.
    public init?(_ text: String) {
        let utf8 = Array(text.utf8)
        guard utf8.count >= 2, utf8.count <= Self.maximumLength * 3 - 1, (utf8.count + 1) % 3 == 0 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity((utf8.count + 1) / 3)
        var i = 0
        while i < utf8.count {
            guard let high = Self.nibble(utf8[i]), let low = Self.nibble(utf8[i + 1]) else { return nil }
            bytes.append(high << 4 | low)
            if i + 2 < utf8.count { guard utf8[i + 2] == UInt8(ascii: ":") else { return nil } }
            i += 3
        }
        self.bytes = bytes
    }

    public init?(bytes: [UInt8]) {
        guard !bytes.isEmpty, bytes.count <= Self.maximumLength else { return nil }
        self.bytes = bytes
    }

    static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case 0x30...0x39: return c - 0x30
        case 0x61...0x66: return c - 0x61 + 10
        case 0x41...0x46: return c - 0x41 + 10
        default: return nil
        }
    }

    public var description: String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for (n, b) in bytes.enumerated() {
            if n > 0 { out.append(UInt8(ascii: ":")) }
            out += [digits[Int(b >> 4)], digits[Int(b & 0xF)]]
        }
        return String(decoding: out, as: UTF8.self)
    }
}
