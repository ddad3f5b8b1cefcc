/// What a rule of ours is, carried in its comment so the kernel keeps it:
/// `libvirt-portfwd dnat-open-any 1a2b3c4d`, the tool's name, the rule's role in its chain and
/// eight hex digits of the rule's own statement text. A rule replaced by another statement
/// loses its comment, so drift compares chains rule by rule instead of counting them; one
/// that keeps a copy of it is told apart by its expression (`RuleContents`).
///
/// The forward chain's first rule also carries the plan's fingerprint after it
/// (`libvirt-portfwd count-in 1a2b3c4d plan 0123456789abcdef`, see `Fingerprint`): 56 bytes,
/// the longest, where nft keeps up to 128.
public struct RuleIdentity: Hashable, Sendable, CustomStringConvertible {
    /// One word, unique in its chain but for the isolated bridges' `isolate` rules, which
    /// the digest tells apart.
    public let role: String
    /// FNV-1a 64 of the statement, folded to 32 bits: a different plan (another mark, another
    /// set) gives a different identity.
    public let digest: UInt32

    static let tool = "libvirt-portfwd"

    public init(role: String, statement: String) {
        var digest = Fingerprint.Digest()
        digest.add(statement)
        let value = digest.fingerprint.value
        self.init(role: role, digest: UInt32(truncatingIfNeeded: value ^ (value >> 32)))
    }

    init(role: String, digest: UInt32) {
        self.role = role
        self.digest = digest
    }

    /// The identity a comment starts with, if it is one of ours.
    /// Read as bytes: drift reads every rule's comment, and String's splitting walks Characters.
    public init?(comment: some StringProtocol) {
        let words = Array(comment.utf8).split(separator: UInt8(ascii: " "), maxSplits: 3, omittingEmptySubsequences: false)
        guard words.count >= 3, words[0].elementsEqual(Self.tool.utf8), !words[1].isEmpty, words[2].count == 8,
              let digest = ASCIIHex.value(words[2]).flatMap(UInt32.init(exactly:)) else { return nil }
        self.init(role: String(decoding: words[1], as: UTF8.self), digest: digest)
    }

    /// `dnat-open-any 1a2b3c4d`.
    public var description: String {
        let hex = String(digest, radix: 16)
        return role + " " + String(repeating: "0", count: 8 - hex.count) + hex
    }

    /// The comment that carries it.
    public var comment: String { "\(Self.tool) \(self)" }
}
