import PortFwdCore
import PortFwdSystem

/// iptables' FORWARD chain of one flavour and family, where libvirt 9 (and Docker's DROP
/// policy) sit. Our rule, as iptables-save prints it:
///   -A FORWARD -m connmark --mark 0x10000000/0x10000000 -m comment --comment libvirt-portfwd -j ACCEPT
/// It has to go through iptables-restore: the same rule written with nft would make
/// iptables-nft call the whole table incompatible, and libvirt's own iptables calls fail.
public struct IptablesForwardChain: AdmissionPlace {
    public let iptables: Iptables
    let rules: [IptablesRule]
    let expected: IptablesRule
    public let obstructs: Bool

    /// nil when this flavour and family has no FORWARD chain.
    public init?(iptables: Iptables, filter: IptablesRuleset, mark: Mark) {
        let table = filter["filter"]
        guard table.chains["FORWARD"] != nil else { return nil }
        self.iptables = iptables
        rules = table.rules(in: "FORWARD")
        expected = Self.rule(mark)
        obstructs = table.chains.keys.contains { $0.hasPrefix("LIBVIRT_FW") } || table.chains["FORWARD"] == "DROP"
    }

    static func rule(_ mark: Mark) -> IptablesRule {
        IptablesRule(table: "filter", chain: "FORWARD", spec: "-m connmark --mark \(mark)/\(mark) -m comment --comment \(Admission.comment) -j ACCEPT")
    }

    /// The filter table of a flavour, saved, or nil when that flavour has none. For nft, the
    /// chain is looked up through libnftables first, which costs no process when it is absent.
    static func filterTable(_ iptables: Iptables, nft: NftablesRunner?) throws(PortFwdError) -> IptablesRuleset? {
        switch iptables.flavour {
        case .nft:
            guard let nft else { return nil }
            do { _ = try nft.run("list chain \(iptables.family.nft) filter FORWARD") } catch {
                if error.code == .notFound { return nil }
                throw error
            }
        case .legacy:
            guard iptables.hasTables("filter") else { return nil }
        }
        return try iptables.save(table: "filter")
    }

    public var id: String { "\(iptables.tool) FORWARD" }
    public var kind: AdmissionKind { .iptables(iptables.flavour, iptables.family) }

    /// Ours: an accept carrying our comment, whatever mark it was written with (the iptables
    /// backend's jump to its own chain carries the comment too, but is not an accept).
    private var ours: [(position: Int, rule: IptablesRule)] {
        rules.enumerated().filter { $0.element.spec.contains("--comment \(Admission.comment) ") && $0.element.spec.hasSuffix(" -j ACCEPT") }
            .map { ($0.offset + 1, $0.element) }
    }

    public var hasOurs: Bool { !ours.isEmpty }
    public var isCorrect: Bool { ours.count == 1 && rules.first == expected }

    public func assert() -> AdmissionEdit {
        var apply = IptablesInput(), undo = IptablesInput()
        for (_, rule) in ours { apply.add("filter", rule.delete) }
        apply.add("filter", expected.insert(at: 1))
        undo.add("filter", expected.delete)
        for (position, rule) in ours { undo.add("filter", rule.insert(at: position)) }
        return .iptables(iptables, apply: apply, undo: undo)
    }

    public func clear() -> AdmissionEdit {
        var apply = IptablesInput(), undo = IptablesInput()
        for (_, rule) in ours { apply.add("filter", rule.delete) }
        for (position, rule) in ours { undo.add("filter", rule.insert(at: position)) }
        return .iptables(iptables, apply: apply, undo: undo)
    }
}
