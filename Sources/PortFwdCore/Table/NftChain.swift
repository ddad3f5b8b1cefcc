/// A chain: an optional base-chain hook and its rules. Rules are statements this tool writes
/// from typed values (`Mark`, `Family`, bridge names), each with its `RuleIdentity` in its
/// comment: the kernel lists a rule as an expression tree, but keeps the comment verbatim, so
/// rules are compared with the kernel's by identity and order, and by that tree against the one
/// our install left (`RuleContents`); the plan's fingerprint in the forward chain's comment
/// says which plan they came from.
public struct NftChain: Sendable {
    public var name: String
    /// The `#` lines above it.
    public var notes: [String]
    /// Where a base chain is attached; nil for a regular chain.
    public var hook: NftHook?
    public var rules: [NftRule]

    public init(name: String, notes: [String] = [], hook: NftHook? = nil, rules: [NftRule]) {
        self.name = name
        self.notes = notes
        self.hook = hook
        self.rules = rules
    }
}

/// A base chain's attachment: `type nat hook prerouting priority dstnat; policy accept;`.
/// Compared by type, hook, numeric priority and policy (nft lists `dstnat` as -100): a policy
/// of drop set on our forward chain would stop every forwarded packet.
public struct NftHook: Hashable, Sendable, CustomStringConvertible {
    public var type: String
    public var hook: String
    public var priority: Int
    public var policy: String
    /// How the renderer writes the priority (`dstnat`, `filter - 10`); not compared.
    public var priorityText: String

    public init(type: String, hook: String, priority: Int, priorityText: String? = nil, policy: String = "accept") {
        self.type = type
        self.hook = hook
        self.priority = priority
        self.priorityText = priorityText ?? "\(priority)"
        self.policy = policy
    }

    public static func == (a: NftHook, b: NftHook) -> Bool {
        a.type == b.type && a.hook == b.hook && a.priority == b.priority && a.policy == b.policy
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(type)
        hasher.combine(hook)
        hasher.combine(priority)
        hasher.combine(policy)
    }

    /// The first and the last priority a chain can have on a hook: ours that count what enters
    /// and what leaves the forward path run before and after every other firewall's.
    public static let first = Int(Int32.min)
    public static let last = Int(Int32.max)

    /// The statement that declares it.
    public var statement: String { "type \(type) hook \(hook) priority \(priorityText); policy \(policy);" }

    /// For messages: `nat prerouting -100, policy accept`.
    public var description: String { "\(type) \(hook) \(priority), policy \(policy)" }
}

public struct NftRule: Sendable {
    /// The `#` lines above it.
    public var notes: [String]
    public var text: String
    /// The rule's comment, when it carries one: its identity, and in `forward` the plan's
    /// fingerprint after it.
    public var comment: String?
    /// A listed rule's expression as the kernel holds it, digested (`NftJSON`); nil for a
    /// planned rule, whose kernel form is known only once installed (`RuleContents`).
    public var content: UInt64?

    public init(_ text: String, notes: [String] = [], comment: String? = nil, content: UInt64? = nil) {
        self.text = text
        self.notes = notes
        self.comment = comment
        self.content = content
    }

    /// A rule of ours: its comment names `role` and digests `text`.
    public init(_ text: String, role: String, notes: [String] = []) {
        self.init(text, notes: notes, comment: RuleIdentity(role: role, statement: text).comment)
    }

    /// Who the rule says it is; nil for a rule without a comment of ours.
    public var identity: RuleIdentity? { comment.flatMap { RuleIdentity(comment: $0) } }
}
