import PortFwdCore

/// One change in an `iptables-restore --noflush` input, as a value: the backends and admission
/// build these, and only `IptablesInput.text`, at the process boundary, writes restore lines.
public enum IptablesOperation: Sendable, Equatable {
    /// `:CHAIN - [0:0]`: creates a user chain, or empties one that exists.
    case declare(table: String, chain: String)
    /// `-A`, starting from `counts` where the rule carries counters over.
    case append(IptablesRule, counts: Counts?)
    /// `-I CHAIN position`, counting from 1.
    case insert(IptablesRule, at: Int)
    case delete(IptablesRule)
    case flush(table: String, chain: String)
    case deleteChain(table: String, chain: String)

    public var table: String {
        switch self {
        case .declare(let table, _), .flush(let table, _), .deleteChain(let table, _): table
        case .append(let rule, _), .insert(let rule, _), .delete(let rule): rule.table
        }
    }

    /// Whether iptables-restore must be told `--counters` to read it.
    var carriesCounts: Bool { if case .append(_, .some) = self { true } else { false } }

    /// The restore line.
    var line: String {
        switch self {
        case let .declare(_, chain): ":\(chain) - [0:0]"
        case let .append(rule, counts?): "[\(counts.packets):\(counts.bytes)] -A \(rule.chain) \(rule.spec)"
        case let .append(rule, nil): "-A \(rule.chain) \(rule.spec)"
        case let .insert(rule, position): "-I \(rule.chain) \(position) \(rule.spec)"
        case let .delete(rule): "-D \(rule.chain) \(rule.spec)"
        case let .flush(_, chain): "-F \(chain)"
        case let .deleteChain(_, chain): "-X \(chain)"
        }
    }
}
