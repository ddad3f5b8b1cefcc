#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An IP address, parsed by the C library's `inet_pton` and printed back by `inet_ntop`.
/// Rule text only ever sees the canonical re-printed form, never the input string.
public struct IPAddress: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let family: Family
    /// Network byte order; 4 or 16 bytes.
    public let bytes: [UInt8]
    /// The canonical text, printed once: a ruleset prints each guest address many times.
    public let description: String

    public init?(_ text: String) {
        // inet_pton reads a C string: a NUL would end the text early and let trailing bytes
        // pass unseen ("192.168.122.5\0anything"). Nothing longer than the longest address
        // form is an address either.
        guard !text.isEmpty, text.utf8.count <= 45, !text.utf8.contains(0) else { return nil }
        if text.utf8.contains(UInt8(ascii: ":")) {
            var raw = in6_addr()
            guard inet_pton(AF_INET6, text, &raw) == 1 else { return nil }
            self.init(family: .ipv6, bytes: withUnsafeBytes(of: &raw) { Array($0) })
        } else {
            // inet_pton rejects the ambiguous forms inet_aton takes ("10.1", "010.0.0.1").
            var raw = in_addr()
            guard inet_pton(AF_INET, text, &raw) == 1 else { return nil }
            self.init(family: .ipv4, bytes: withUnsafeBytes(of: &raw) { Array($0) })
        }
    }

    public init(family: Family, bytes: [UInt8]) {
        precondition(bytes.count == family.byteCount)
        self.family = family
        self.bytes = bytes
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let af = family.socketFamily
        bytes.withUnsafeBytes { raw in
            _ = inet_ntop(af, raw.baseAddress, &buffer, socklen_t(buffer.count))
        }
        description = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    // Equality and hashing follow the bytes; the text is derived from them.
    public static func == (a: IPAddress, b: IPAddress) -> Bool { a.family == b.family && a.bytes == b.bytes }
    public func hash(into hasher: inout Hasher) {
        // Whole words rather than the array: counters and plans hash an address per forward.
        var high: UInt64 = 0, low: UInt64 = 0
        for (i, byte) in bytes.enumerated() {
            if i < 8 { high = high << 8 | UInt64(byte) } else { low = low << 8 | UInt64(byte) }
        }
        hasher.combine(high)
        hasher.combine(low)
    }

    public var bitWidth: Int { family.bits }

    public var isUnspecified: Bool { bytes.allSatisfy { $0 == 0 } }

    public var isLoopback: Bool {
        switch family {
        case .ipv4: return bytes[0] == 127
        case .ipv6: return bytes.dropLast().allSatisfy { $0 == 0 } && bytes[15] == 1 || (mappedIPv4?.isLoopback ?? false)
        }
    }

    public var isMulticast: Bool {
        switch family {
        case .ipv4: return bytes[0] >= 224 && bytes[0] <= 239
        case .ipv6: return bytes[0] == 0xff
        }
    }

    /// 169.254.0.0/16 and fe80::/10: valid only on one link, never a forward's target.
    public var isLinkLocal: Bool {
        switch family {
        case .ipv4: return bytes[0] == 169 && bytes[1] == 254
        case .ipv6: return bytes[0] == 0xfe && bytes[1] & 0xc0 == 0x80
        }
    }

    public var isBroadcast: Bool { family == .ipv4 && bytes == [255, 255, 255, 255] }

    /// The IPv4 address inside `::ffff:a.b.c.d`. Such a form names an IPv4 host through the
    /// IPv6 family; accepting it would let `::ffff:127.0.0.1` slip past a loopback check.
    public var mappedIPv4: IPAddress? {
        guard family == .ipv6, bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xff, bytes[11] == 0xff else { return nil }
        return IPAddress(family: .ipv4, bytes: Array(bytes[12...]))
    }

    /// Why this address cannot be a guest (DNAT target) address, or nil when it can.
    /// The same rule holds for addresses from the config, metadata, DHCP hosts and leases.
    public var guestRefusal: String? {
        if isUnspecified { return "\(self) is the unspecified address" }
        if isLoopback { return "\(self) is a loopback address" }
        if isMulticast { return "\(self) is a multicast address" }
        if isBroadcast { return "\(self) is the broadcast address" }
        if isLinkLocal { return "\(self) is a link-local address" }
        if mappedIPv4 != nil { return "\(self) is an IPv4-mapped IPv6 address; write the IPv4 address in address" }
        return nil
    }

    /// The MAC an IPv6 address's interface identifier was made from by SLAAC (EUI-64:
    /// `xxxx:xxff:fexx:xxxx`, universal/local bit flipped); nil for any other address.
    public var eui64MAC: MAC? {
        guard family == .ipv6, bytes[11] == 0xff, bytes[12] == 0xfe else { return nil }
        let octets = [bytes[8] ^ 0x02, bytes[9], bytes[10], bytes[13], bytes[14], bytes[15]]
        return MAC(octets.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined(separator: ":"))
    }

    public static func < (a: IPAddress, b: IPAddress) -> Bool {
        if a.family != b.family { return a.family < b.family }
        return a.bytes.lexicographicallyPrecedes(b.bytes)
    }
}
