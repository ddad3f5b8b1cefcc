import PortFwdCore
import PortFwdSystem

/// iptables' FORWARD chain of one flavour and family, where libvirt 9's chains, Docker's and
/// ufw's DROP policy sit. Our rules, as iptables-save prints them, always the two together:
///   -A FORWARD -m connmark --mark 0x10000000/0x10000000 -m comment --comment libvirt-portfwd -j LIBVIRT_PORTFWD_USER
///   -A FORWARD -m connmark --mark 0x10000000/0x10000000 -m comment --comment libvirt-portfwd -j ACCEPT
/// They go directly above the first rule that would reject our connections whoever the client
/// is (the jump to libvirt's LIBVIRT_FWI), or last when only the policy drops them (Docker,
/// ufw): never above a rule of the admin's, so an admin's `iptables -I FORWARD 1 -s X -j DROP`,
/// `DOCKER-USER` and `ufw route deny` keep the last word. The admin's own chain
/// LIBVIRT_PORTFWD_USER comes first; this tool creates it and never fills or empties it.
/// They have to go through iptables-restore: the same rules written with nft would make
/// iptables-nft call the whole table incompatible, and libvirt's own iptables calls fail.
public struct IptablesForwardChain: AdmissionPlace {
    public let iptables: Iptables
    let rules: [IptablesRule]
    let expected: [IptablesRule]
    /// Where ours must sit above: an index into `rules` (`rules.count`: last, above the
    /// policy); nil when nothing would drop our traffic.
    let obstacle: Int?
    let hasUserChain: Bool
    /// Rules of other chains that jump to the admin's chain, and the rules it holds.
    let userReferenced: Bool
    let userRules: Int

    /// nil when this flavour and family has no FORWARD chain.
    public init?(iptables: Iptables, filter: IptablesRuleset, mark: Mark, flows: [Flow]) {
        let table = filter["filter"]
        guard table.chains["FORWARD"] != nil else { return nil }
        self.iptables = iptables
        rules = table.rules(in: "FORWARD")
        expected = Self.rules(mark)
        hasUserChain = table.chains[IptablesRenderer.user] != nil
        userReferenced = table.rules.contains { $0.chain != "FORWARD" && $0.spec.hasSuffix("-j \(IptablesRenderer.user)") }
        userRules = table.rules(in: IptablesRenderer.user).count
        obstacle = Self.obstacle(in: filter, family: iptables.family, flows: flows)
    }

    /// The index of the first rule of FORWARD that would drop our traffic whoever the client
    /// is, or of its end when only the policy does; ours (admission, the iptables backend's
    /// jump) passed over.
    static func obstacle(in filter: IptablesRuleset, family: Family, flows: [Flow]) -> Int? {
        let table = filter["filter"]
        let analysed = IptablesRuleText.table(name: "filter", family: family, policies: table.chains, rules: table.rules.map { ($0.chain, $0.spec) })
        let rules = table.rules(in: "FORWARD")
        let ours = Set(rules.filter { isOurs($0) || isOurBackendJump($0.spec) }.map(\.spec))
        let found = ChainWalk(analysed).obstacle(for: flows, base: "FORWARD") { ours.contains($0.text) }
        // libvirt's LIBVIRT_FWI holds its reject for every network that runs, and is refilled
        // whenever one starts (or firewalld reloads): ours goes above the jump to it even while
        // it is empty, so a network that starts later is never a moment without our rule.
        guard flows.contains(where: { $0.family == family }),
              let libvirt = rules.firstIndex(where: { $0.spec == "-j LIBVIRT_FWI" }) else { return found }
        return min(found ?? libvirt, libvirt)
    }

    static func rules(_ mark: Mark) -> [IptablesRule] {
        ["-j \(IptablesRenderer.user)", "-j ACCEPT"].map {
            IptablesRule(table: "filter", chain: "FORWARD",
                         spec: "-m connmark --mark \(mark)/\(mark) -m comment --comment \(Admission.comment) \($0)")
        }
    }

    /// The filter table of a flavour, saved, or nil when that flavour has none. For nft, the
    /// chain is looked up through libnftables first, which costs no process when it is absent.
    static func filterTable(_ iptables: Iptables, nft: NftablesRunner?) throws(PortFwdError) -> IptablesRuleset? {
        switch iptables.flavour {
        case .nft:
            guard let nft, try nft.exists(NftTableID(iptables.family.nft, "filter"), chain: "FORWARD") else { return nil }
        case .legacy:
            guard iptables.hasTables("filter") else { return nil }
        }
        return try iptables.save(table: "filter")
    }

    public var id: String { "\(iptables.tool) FORWARD" }
    public var kind: AdmissionKind { .iptables(iptables.flavour, iptables.family) }
    public var obstructs: Bool { obstacle != nil }

    /// Ours: a rule carrying our comment that accepts or jumps to the admin's chain, whatever
    /// mark it was written with (the iptables backend's jump to its own chain carries the
    /// comment too, and is neither).
    static func isOurs(_ rule: IptablesRule) -> Bool {
        rule.spec.containsUTF8("--comment \(Admission.comment) ")
            && (rule.spec.hasSuffix(" -j ACCEPT") || rule.spec.hasSuffix(" -j \(IptablesRenderer.user)"))
    }

    static func isOurBackendJump(_ spec: String) -> Bool { spec.hasSuffix("-j \(IptablesRenderer.forward)") }

    private var ours: [(position: Int, rule: IptablesRule)] {
        rules.enumerated().filter { Self.isOurs($0.element) }.map { ($0.offset + 1, $0.element) }
    }

    public var hasOurs: Bool { !ours.isEmpty }

    /// Our two rules, together, in order, once, above the obstacle: wherever that leaves
    /// them among the admin's rules. Never "not first": a rule put above ours stays there.
    public var isCorrect: Bool {
        let ours = self.ours
        guard ours.map(\.rule) == expected, ours[1].position == ours[0].position + 1, hasUserChain else { return false }
        return obstacle.map { ours[1].position <= $0 } ?? true
    }

    /// Where ours goes: 1-based, among the rules that remain once ours are deleted; last
    /// when nothing obstructs.
    var insertion: Int {
        let at = obstacle ?? rules.count
        return at - rules.prefix(at).filter(Self.isOurs).count + 1
    }

    public var simulated: (table: String, chain: String, index: Int)? {
        guard let obstacle else { return nil }
        return (iptables.flavour == .nft ? "table \(iptables.family.nft) filter" : "\(iptables.tool) table filter", "FORWARD", obstacle)
    }

    public func assert() -> AdmissionEdit {
        var apply = IptablesInput(), undo = IptablesInput()
        if !hasUserChain { apply.add(.declare(table: "filter", chain: IptablesRenderer.user)) }
        for (_, rule) in ours { apply.add(.delete(rule)) }
        for (offset, rule) in expected.enumerated() { apply.add(.insert(rule, at: insertion + offset)) }
        for rule in expected { undo.add(.delete(rule)) }
        for (position, rule) in ours { undo.add(.insert(rule, at: position)) }
        if !hasUserChain { undo.add(.deleteChain(table: "filter", chain: IptablesRenderer.user)) }
        return .iptables(iptables, apply: apply, undo: undo)
    }

    public func clear() -> AdmissionEdit {
        var apply = IptablesInput(), undo = IptablesInput()
        for (_, rule) in ours { apply.add(.delete(rule)) }
        // The admin's chain goes with our rules only while it is empty and nothing else uses it.
        let dropUser = hasUserChain && !userReferenced && userRules == 0
        if dropUser { apply.add(.deleteChain(table: "filter", chain: IptablesRenderer.user)) }
        if dropUser { undo.add(.declare(table: "filter", chain: IptablesRenderer.user)) }
        for (position, rule) in ours { undo.add(.insert(rule, at: position)) }
        return .iptables(iptables, apply: apply, undo: undo)
    }
}
