import PortFwdCore
import PortFwdSystem

/// Lets our DNATed connections through firewalls that would reject or drop them after DNAT.
///
/// In nftables a packet must pass every base chain on a hook, so an accept in our own table
/// cannot override libvirt's `reject`. What works is one rule, in the other firewall's own
/// chain, that accepts exactly the connections carrying our ct mark bit. Where such a rule must
/// go is this policy; how a rule is put into each kind of chain is the place's business
/// (`IptablesForwardChain`, `LibvirtForwardChain`). Each place ends up holding exactly one such
/// rule (in iptables, with the admin's chain before it), directly above what would reject our
/// connections, below any rule of the admin's; or none. A rule someone puts above ours stays
/// there: only a rule of ours that is missing, or that ended up below the reject, is repaired.
public struct Admission: Sendable {
    public static let comment = "libvirt-portfwd"

    public let mark: Mark
    public let mode: Settings.AdmissionMode

    public init(mark: Mark, mode: Settings.AdmissionMode) {
        self.mark = mark
        self.mode = mode
    }

    /// Whether `place` must hold our rule. `covered`: places the caller admits our connections
    /// in already (the iptables backend's own FORWARD chain); ours there would be redundant.
    public func wants(_ place: any AdmissionPlace, among places: [any AdmissionPlace], covered: Set<String> = []) -> Bool {
        if covered.contains(place.id) { return false }
        switch (mode, place.kind) {
        case (.none, _): return false
        case (.auto, _): return place.obstructs
        case (.libvirtNftables, .libvirtNftables): return true
        case (.libvirtNftables, .iptables), (.iptables, .libvirtNftables): return false
        case (.iptables, .iptables(let flavour, let family)):
            // Forced: the flavour libvirt uses, else whichever has a filter table (nft first).
            let candidates = places.compactMap { p -> (IptablesFlavour, Bool)? in
                if case .iptables(let f, family) = p.kind, !covered.contains(p.id) { return (f, p.obstructs) }
                return nil
            }
            return flavour == (candidates.first { $0.1 }?.0 ?? candidates.first?.0)
        }
    }

    /// The edits that leave every place as the policy wants it, and the places that hold our
    /// rule afterwards.
    public func edits(_ places: [any AdmissionPlace], covered: Set<String> = []) -> (edits: [AdmissionEdit], held: [String]) {
        var edits: [AdmissionEdit] = []
        var held: [String] = []
        for place in places {
            if wants(place, among: places, covered: covered) {
                held.append(place.id)
                if !place.isCorrect { edits.append(place.assert()) }
            } else if place.hasOurs {
                edits.append(place.clear())
            }
        }
        return (edits, held)
    }

    /// Each place that should hold our rule and does not, or holds it where it does not help:
    /// below what rejects, or written for another mark.
    public func drift(_ places: [any AdmissionPlace], covered: Set<String> = []) -> [Drift] {
        places.filter { wants($0, among: places, covered: covered) && !$0.isCorrect }.map {
            .admission(place: $0.id, $0.hasOurs ? .misplaced : .missing)
        }
    }

    /// Every place that exists here, looked at once. `saved`: filter tables the caller has
    /// already saved (the iptables backend saves its flavour anyway).
    /// - Parameter flows: the traffic to let through (`Flow.flows(of: plan)`): what decides
    ///   where an iptables chain would reject it; none when only removing.
    public static func survey(mark: Mark, flows: [Flow] = [], nft: NftablesRunner?, commands: CommandRunner, procNet: String,
                              saved: [Iptables: IptablesRuleset] = [:]) throws(PortFwdError) -> [any AdmissionPlace] {
        var places: [any AdmissionPlace] = []
        for family in Family.allCases {
            if let nft, let place = try LibvirtForwardChain.survey(family: family, mark: mark, nft: nft) { places.append(place) }
            for flavour in IptablesFlavour.allCases {
                let iptables = Iptables(flavour, family, commands: commands, procNet: procNet)
                let table: IptablesRuleset?
                if let known = saved[iptables] { table = known } else { table = try IptablesForwardChain.filterTable(iptables, nft: nft) }
                guard let table else { continue }
                if let place = IptablesForwardChain(iptables: iptables, filter: table, mark: mark, flows: flows) { places.append(place) }
            }
        }
        return places
    }
}

/// A chain of another firewall that filters forwarded traffic, as it looked when surveyed,
/// and the edits that put our rule first in it or take ours out.
public protocol AdmissionPlace: Sendable {
    /// For messages and status: `iptables-nft FORWARD`, `ip libvirt_network forward`.
    var id: String { get }
    var kind: AdmissionKind { get }
    /// Whether that firewall would reject or drop our connections without our rule.
    var obstructs: Bool { get }
    /// Some rule of ours is there.
    var hasOurs: Bool { get }
    /// Ours is there once, with the current mark, above what would reject our connections.
    var isCorrect: Bool { get }
    /// Where ours would go, for `check --kernel`'s analysis: the table as `Neighbours` names
    /// it, the chain, and the index of the rule ours would go above.
    var simulated: (table: String, chain: String, index: Int)? { get }
    func assert() -> AdmissionEdit
    func clear() -> AdmissionEdit
}

public enum AdmissionKind: Sendable, Hashable {
    case iptables(IptablesFlavour, Family)
    case libvirtNftables(Family)
}

/// A change to one place, and how to take it back.
public enum AdmissionEdit: Sendable {
    /// iptables-restore input for one flavour and family, and the input that reverses it.
    case iptables(Iptables, apply: IptablesInput, undo: IptablesInput)
    /// nft commands; when committed on their own (not inside our table's transaction), `undo`
    /// reverses them.
    case nft(NftTransaction, undo: @Sendable () throws(PortFwdError) -> Void)

    /// The edit as a step of its own, named `name`; nft commands run through `nft`.
    public func step(_ name: String, nft: NftablesRunner?) -> Step {
        switch self {
        case .iptables(let iptables, let apply, let undo):
            return Step(name, apply: { () throws(PortFwdError) in try iptables.restore(apply, test: false) },
                        undo: { () throws(PortFwdError) in try iptables.restore(undo, test: false) })
        case .nft(let commands, let undo):
            return Step(name, apply: { () throws(PortFwdError) in try nft?.commit(commands) }, undo: undo)
        }
    }
}
