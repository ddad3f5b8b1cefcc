#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The two address families a forward can live in.
public enum Family: String, Sendable, Codable, CaseIterable, Comparable {
    case ipv4, ipv6

    public static func < (a: Family, b: Family) -> Bool { a == .ipv4 && b == .ipv6 }
}

/// An IP address, parsed by the C library's `inet_pton` and printed back by `inet_ntop`.
/// Rule text only ever sees the canonical re-printed form, never the input string.
public struct IPAddress: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let family: Family
    /// Network byte order; 4 or 16 bytes.
    public let bytes: [UInt8]
    /// The canonical text, printed once: a ruleset prints each guest address many times.
    public let description: String

    public init?(_ text: String) {
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
        precondition(bytes.count == (family == .ipv4 ? 4 : 16))
        self.family = family
        self.bytes = bytes
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let af = family == .ipv4 ? AF_INET : AF_INET6
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

    public var bitWidth: Int { bytes.count * 8 }

    public var isUnspecified: Bool { bytes.allSatisfy { $0 == 0 } }

    public var isLoopback: Bool {
        switch family {
        case .ipv4: return bytes[0] == 127
        case .ipv6: return bytes.dropLast().allSatisfy { $0 == 0 } && bytes[15] == 1
        }
    }

    public var isMulticast: Bool {
        switch family {
        case .ipv4: return bytes[0] >= 224 && bytes[0] <= 239
        case .ipv6: return bytes[0] == 0xff
        }
    }

    /// True when this address can sensibly be a forward's target or bound host address.
    public var isUnicast: Bool { !isUnspecified && !isMulticast && !(family == .ipv4 && bytes == [255, 255, 255, 255]) }

    public static func < (a: IPAddress, b: IPAddress) -> Bool {
        if a.family != b.family { return a.family < b.family }
        return a.bytes.lexicographicallyPrecedes(b.bytes)
    }
}
