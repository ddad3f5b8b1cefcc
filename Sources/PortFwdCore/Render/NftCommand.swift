/// A table of nftables: `inet libvirt_portfwd`, `ip libvirt_network`.
public struct NftTableID: Hashable, Sendable, CustomStringConvertible {
    /// `inet`, `ip` or `ip6`.
    public let family: String
    public let name: String

    public init(_ family: String, _ name: String) {
        self.family = family
        self.name = name
    }

    /// Ours.
    public static let ours = NftTableID("inet", NftRenderer.table)
    /// The one `trace` installs for a while.
    public static let trace = NftTableID("inet", TraceTable.name)

    /// `inet libvirt_portfwd`, as nft names it.
    public var description: String { "\(family) \(name)" }
}

/// One operation of a transaction, as a value: the fake applies it to its objects, and only
/// the boundary to libnftables writes it as nft text (`NftTransaction.script`), after
/// knftables' `Transaction`.
public enum NftCommand: Sendable {
    /// Declares a table, or declares and fills it: `table inet libvirt_portfwd { ... }`. Adding
    /// what exists is no change; nil declares it only. A rule comment's fingerprint placeholder
    /// is filled in with the body's digest where the text is written (`NftRenderer.filled`).
    case addTable(NftTableID, NftTable?)
    case addChain(NftTableID, NftChain)
    case addSet(NftTableID, NftSet)
    /// Elements already there are no change.
    case addElements(NftTableID, set: String, [NftElement])
    /// At the end of `chain`, or right after the rule with handle `after`.
    case addRule(NftTableID, chain: String, NftRule, after: Int? = nil)
    /// At the top of `chain`, or right before the rule with handle `before`.
    case insertRule(NftTableID, chain: String, NftRule, before: Int? = nil)
    /// Fails when the object is not there.
    case delete(NftObject)
    /// Deletes the object if it is there (nftables >= 1.0.7).
    case destroy(NftObject)
    /// `#` lines for whoever reads the text (`export`); nothing to the kernel.
    case comment(String)
}

/// What a delete or destroy names. A map's elements are named by their keys.
public enum NftObject: Sendable {
    case table(NftTableID)
    case chain(NftTableID, String)
    case set(NftTableID, String)
    case elements(NftTableID, set: String, [NftElement])
    case rule(NftTableID, chain: String, handle: Int)
}

/// Commands the kernel applies as one transaction: all of them, or none.
public struct NftTransaction: Sendable {
    public var commands: [NftCommand]

    public init(_ commands: [NftCommand] = []) { self.commands = commands }

    public var isEmpty: Bool { commands.isEmpty }

    public static func + (a: NftTransaction, b: NftTransaction) -> NftTransaction { NftTransaction(a.commands + b.commands) }
}

/// What a listing asks for; the answer is libnftables' JSON.
public enum NftQuery: Sendable {
    case table(NftTableID)
    case chain(NftTableID, String)
    case set(NftTableID, String)
    /// Every chain of every table, without rules.
    case chains
    /// Every table's chains and rules, without set elements (libnftables' terse listing; a
    /// listing of one table or chain fetches all its elements, 80 ms at 10,000 forwards).
    case rules

    /// Whether the listing leaves set elements out.
    public var terse: Bool { if case .rules = self { true } else { false } }
}
