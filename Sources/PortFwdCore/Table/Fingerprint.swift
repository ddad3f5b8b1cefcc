/// A short digest of a rendered ruleset, carried in the installed rules as a comment, so that
/// `status` and `watch` can tell "installed from this very plan" from "installed from an older
/// one" without comparing every rule. Not a security measure: FNV-1a 64 finds changes, and the
/// element-by-element comparison (`NftTable.drift`) finds tampering.
public struct Fingerprint: Hashable, Sendable, CustomStringConvertible {
    public let value: UInt64

    /// FNV-1a 64, fed piece by piece: the renderer feeds it the plan's text as it writes it,
    /// and leaves out the counters' values, which are state, not plan.
    struct Digest {
        private var hash: UInt64 = 0xcbf2_9ce4_8422_2325

        mutating func add(_ text: String) {
            for byte in text.utf8 { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
        }

        mutating func add(_ bytes: ArraySlice<UInt8>) {
            for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
        }

        var fingerprint: Fingerprint { Fingerprint(value: hash) }
    }

    init(value: UInt64) { self.value = value }

    public init?(hex: some StringProtocol) {
        guard hex.count == 16, let value = UInt64(hex, radix: 16) else { return nil }
        self.value = value
    }

    /// 16 hex digits.
    public var description: String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }

    /// The comment text that carries it in the iptables backend's rule:
    /// `libvirt-portfwd plan 0123456789abcdef`. Our nftables table has it after the forward
    /// chain rule's identity.
    public var comment: String { "libvirt-portfwd plan \(self)" }

    /// The fingerprint in such a comment, or after a rule's identity in one
    /// (`libvirt-portfwd count-in 1a2b3c4d plan 0123456789abcdef`, see `RuleIdentity`).
    public static func inComment(_ comment: some StringProtocol) -> Fingerprint? {
        let words = comment.split(separator: " ")
        guard words.first == "libvirt-portfwd", let plan = words.lastIndex(of: "plan"), plan == words.count - 2 else { return nil }
        return Fingerprint(hex: words[plan + 1])
    }
}
