/// A chain: an optional base-chain hook and its rules. Rules are statements this tool writes
/// from typed values (`Mark`, `Family`, bridge names); only their number is compared with the
/// kernel, whose listing of a rule is an expression tree, and the plan's fingerprint in the
/// forward chain's comment says which plan they came from.
public struct NftChain: Sendable {
    public var name: String
    /// The `#` lines above it.
    public var notes: [String]
    /// `type nat hook prerouting priority dstnat; policy accept;`; nil for a regular chain.
    public var hook: String?
    public var rules: [NftRule]

    public init(name: String, notes: [String] = [], hook: String? = nil, rules: [NftRule]) {
        self.name = name
        self.notes = notes
        self.hook = hook
        self.rules = rules
    }
}

public struct NftRule: Sendable {
    /// The `#` lines above it.
    public var notes: [String]
    public var text: String
    /// The rule's comment, when it carries one (the plan's fingerprint in `forward`).
    public var comment: String?

    public init(_ text: String, notes: [String] = [], comment: String? = nil) {
        self.text = text
        self.notes = notes
        self.comment = comment
    }
}
