/// A short digest of a rendered ruleset, carried in the installed rules as a comment, so that
/// `status` and `watch` can tell "installed from this very plan" from "installed from an older
/// one" without comparing every rule. Not a security measure: FNV-1a 64 finds changes, and the
/// element-by-element comparison (`TableShape`) finds tampering.
public struct Fingerprint: Hashable, Sendable, CustomStringConvertible {
    public let value: UInt64

    public init(_ text: String) { self.init(text, skippingCounters: false) }

    /// What starts a counter's values in an element: ` counter packets P bytes B`.
    static let counterMark = " counter packets "

    /// - Parameter skippingCounters: leave out every ` counter packets ... ` up to the next
    ///   comma, so that a table carrying counters has the fingerprint of its plan alone.
    public init(_ text: String, skippingCounters: Bool) {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        let mark = Array(Self.counterMark.utf8)
        var matched = 0, skipping = false
        // Bytes of a partly matched mark are held back until the match fails.
        for byte in text.utf8 {
            if skipping {
                if byte != UInt8(ascii: ",") { continue }
                skipping = false
            } else if skippingCounters {
                if byte == mark[matched] {
                    matched += 1
                    if matched == mark.count { matched = 0; skipping = true }
                    continue
                }
                for held in mark[0..<matched] { hash = (hash ^ UInt64(held)) &* 0x0000_0100_0000_01b3 }
                matched = byte == mark[0] ? 1 : 0
                if matched == 1 { continue }
            }
            hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
        }
        for held in mark[0..<matched] { hash = (hash ^ UInt64(held)) &* 0x0000_0100_0000_01b3 }
        value = hash
    }

    public init?(hex: some StringProtocol) {
        guard hex.count == 16, let value = UInt64(hex, radix: 16) else { return nil }
        self.value = value
    }

    /// 16 hex digits.
    public var description: String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }

    /// The comment text that carries it: `libvirt-portfwd plan 0123456789abcdef`.
    public var comment: String { "libvirt-portfwd plan \(self)" }

    /// The fingerprint in such a comment, if it is one.
    public static func inComment(_ comment: some StringProtocol) -> Fingerprint? {
        let prefix = "libvirt-portfwd plan "
        guard comment.hasPrefix(prefix) else { return nil }
        return Fingerprint(hex: comment.dropFirst(prefix.count))
    }
}
