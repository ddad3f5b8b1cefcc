import PortFwdCore

/// One way the kernel differs from a plan, as a backend found it: a value the service and
/// `status` compare and count, written out as one line only where it is shown or logged.
public enum Drift: Hashable, Sendable, CustomStringConvertible {
    /// Our nftables table is not there.
    case tableMissing
    /// Our table holds the rules of another plan (an older one, or none that says which).
    case otherPlan(held: Fingerprint?, planned: Fingerprint)
    /// Our table holds this plan, and someone changed it since.
    case table(TableDrift)
    /// One of our iptables chains, in `tool`'s ruleset (`iptables-nft`, `ip6tables-legacy`).
    case chain(tool: String, chain: String, ChainDrift)
    /// The jump from a built-in chain into ours.
    case jump(tool: String, from: String, to: String, JumpDrift)
    /// Our admission rule in another firewall's chain (`Admission.drift`).
    case admission(place: String, AdmissionDrift)

    public enum ChainDrift: Hashable, Sendable {
        case missing
        /// There, while the plan has no forward of that family.
        case leftOver
        /// Its rules are not those the plan writes.
        case differs
    }

    public enum JumpDrift: Hashable, Sendable {
        case missing
        /// Something comes before it, or it is there twice.
        case notFirst
        case notAsWritten
        case belowRejection
    }

    public enum AdmissionDrift: Hashable, Sendable {
        case missing
        /// Below what rejects our connections, or written for another mark.
        case misplaced
    }

    public var description: String {
        let table = "inet \(NftRenderer.table)"
        switch self {
        case .tableMissing: return "table \(table) is missing"
        case let .otherPlan(held, planned): return "table \(table) holds another plan (\(held?.description ?? "none") instead of \(planned))"
        case .table(let drift): return "table \(table): \(drift)"
        case let .chain(tool, chain, .missing): return "\(tool): chain \(chain) is missing"
        case let .chain(tool, chain, .leftOver): return "\(tool): chain \(chain) is left over"
        case let .chain(tool, chain, .differs): return "\(tool): chain \(chain) differs from the plan"
        case let .jump(tool, from, to, problem):
            let what = switch problem {
            case .missing: "is missing"
            case .notFirst: "is not first"
            case .notAsWritten: "is not as the plan writes it"
            case .belowRejection: "is below what rejects our connections"
            }
            return "\(tool): the jump from \(from) to \(to) \(what)"
        case let .admission(place, .missing): return "admission rule in \(place) is missing"
        case let .admission(place, .misplaced):
            return "admission rule in \(place) is below what rejects our connections, or not as the plan writes it"
        }
    }
}
