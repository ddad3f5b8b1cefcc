/// Another firewall's chain as this tool reads it: each rule reduced to the conditions that
/// decide whether it touches our traffic, and its verdict. Read from iptables-save
/// (`IptablesRuleText`) or from libnftables' JSON (`NftJSON.filterTable`); whatever a reader
/// cannot understand becomes `.unknown`, which may or may not match, never a guess.
public struct FilterRule: Sendable {
    public var conditions: [Condition]
    public var verdict: Verdict
    /// How an admin finds it: `rule 3 (-s 203.0.113.5/32 -j DROP)`, `handle 12 (ip saddr 203.0.113.5 drop)`.
    public var position: String
    public var text: String
    /// nftables' handle of the rule, where it was read from nftables.
    public var handle: Int?

    public init(conditions: [Condition], verdict: Verdict, position: String, text: String, handle: Int? = nil) {
        self.conditions = conditions
        self.verdict = verdict
        self.position = position
        self.text = text
        self.handle = handle
    }

    public var label: String { "\(position) (\(text))" }
}

public enum Verdict: Sendable, Hashable {
    case accept, drop, reject, `return`
    case jump(String), goto(String)
    /// No verdict: counting, logging, marking; the packet goes on.
    case none
    /// One this tool does not model (`queue`, a target of an extension): may end the packet's way.
    case other(String)

    public var isDrop: Bool { self == .drop || self == .reject }
}

/// One condition of a rule, possibly negated.
public struct Condition: Sendable, Hashable {
    public enum Side: String, Sendable, Hashable { case source, destination }

    /// An interface name pattern: exact, or a prefix (iptables' `eth+`, nft's `eth*`).
    public struct Name: Sendable, Hashable {
        public let text: String
        public let prefix: Bool

        public init(_ text: String, prefix: Bool) {
            self.text = text
            self.prefix = prefix
        }

        public func matches(_ name: String) -> Bool { prefix ? name.hasPrefix(text) : name == text }
    }

    public enum Kind: Sendable, Hashable {
        case inInterface([Name])
        case outInterface([Name])
        case address(Side, [Network])
        /// IANA protocol numbers.
        case proto(Set<Int>)
        case port(Side, [PortRange])
        /// `new`, `established`, `related`, `invalid`, `untracked`.
        case ctState(Set<String>)
        /// `dnat`, `snat`, `confirmed`, `seen-reply`, `assured`, ...
        case ctStatus(Set<String>)
        /// `ct mark & mask == value`.
        case ctMark(mask: UInt32, value: UInt32)
        case ctDirection(Flow.Direction)
        case family(Family)
        /// Something this tool does not read: it may match, or not.
        case unknown(String)
    }

    public var kind: Kind
    public var negated: Bool

    public init(_ kind: Kind, negated: Bool = false) {
        self.kind = kind
        self.negated = negated
    }
}

/// A chain: its rules, and for a base chain its hook's policy.
public struct FilterChain: Sendable {
    public var name: String
    public var rules: [FilterRule]
    /// A base chain's policy (`accept`/`drop`); nil for a regular chain.
    public var policy: Verdict?
    public var priority: Int?

    public init(name: String, rules: [FilterRule], policy: Verdict? = nil, priority: Int? = nil) {
        self.name = name
        self.rules = rules
        self.policy = policy
        self.priority = priority
    }
}

/// One table of another firewall, as far as the forward hook reaches into it: its base
/// chains on that hook and every chain they jump to.
public struct FilterTable: Sendable {
    /// How `status` names it: `table inet filter`, `table ip filter`, `iptables-legacy table filter`.
    public var name: String
    /// Which family's packets it sees: nil for both (`inet`).
    public var family: Family?
    public var chains: [String: FilterChain]
    /// The chains hooked on forward, in priority order.
    public var baseChains: [String]

    public init(name: String, family: Family?, chains: [String: FilterChain], baseChains: [String]) {
        self.name = name
        self.family = family
        self.chains = chains
        self.baseChains = baseChains
    }
}
