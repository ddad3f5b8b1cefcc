import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif
import PortFwdCore
import PortFwdSystem

/// The alternative strategy: the same plan as iptables rules in chains of our own, for hosts
/// that cannot or will not use our nftables table. Per family, one iptables-restore --noflush
/// refills our chains and keeps one jump to each, first in its built-in chain; both families
/// are checked with --test before either commits, and a family that committed is put back
/// from its save if a later step fails.
public struct IptablesBackend: FirewallBackend {
    public let name = Settings.Backend.iptables
    let commands: CommandRunner
    /// For admission in libvirt's own nftables tables, and to see iptables-nft's chains
    /// without running a process; nil where libnftables cannot be used.
    let nft: NftablesRunner?
    /// nil: the flavour libvirt's LIBVIRT_* chains live in, else nft.
    let flavourOverride: IptablesFlavour?
    let procNet: String
    let renderer = IptablesRenderer()

    public init(commands: CommandRunner, nft: NftablesRunner?, flavour: IptablesFlavour? = nil, procNet: String) {
        self.commands = commands
        self.nft = nft
        self.flavourOverride = flavour
        self.procNet = procNet
    }

    /// Where each jump goes: built-in chain, our chain, and what the jump matches.
    struct Jump: Sendable {
        let table: String
        let builtin: String
        let chain: String
        let match: @Sendable (Family, Mark) -> String

        func rule(_ family: Family, mark: Mark) -> IptablesRule {
            let m = match(family, mark)
            return IptablesRule(table: table, chain: builtin,
                                spec: "\(m.isEmpty ? "" : m + " ")-m comment --comment \(Admission.comment) -j \(chain)")
        }

        func isOurs(_ rule: IptablesRule) -> Bool { rule.spec.hasSuffix("-j \(chain)") }
    }

    static let jumps = [
        // Never a loopback destination: a neighbour routing 127.0.0.0/8 here would reach the
        // guests through 127.0.0.1 (moby #45610); and a DNAT of the host's own 127.0.0.1
        // traffic to a guest would be dropped as martian anyway.
        Jump(table: "nat", builtin: "PREROUTING", chain: IptablesRenderer.pre) { f, _ in "! -d \(Network.loopback(f)) -m addrtype --dst-type LOCAL" },
        Jump(table: "nat", builtin: "OUTPUT", chain: IptablesRenderer.out) { f, _ in "! -d \(Network.loopback(f)) -m addrtype --dst-type LOCAL" },
        Jump(table: "nat", builtin: "POSTROUTING", chain: IptablesRenderer.post) { _, _ in "" },
        // Counting: what enters the forward path, first of every mangle rule (before the
        // filter table), and what leaves it (mangle POSTROUTING, after every filter chain).
        Jump(table: "mangle", builtin: "FORWARD", chain: IptablesRenderer.count) { _, m in "-m connmark --mark \(m)/\(m)" },
        Jump(table: "mangle", builtin: "POSTROUTING", chain: IptablesRenderer.delivered) { _, m in "-m connmark --mark \(m)/\(m)" },
        Jump(table: "filter", builtin: "FORWARD", chain: IptablesRenderer.forward) { _, _ in "" },
    ]

    public func render(_ plan: Plan) -> String { renderer.render(plan) }

    func iptables(_ flavour: IptablesFlavour, _ family: Family) -> Iptables {
        Iptables(flavour, family, commands: commands, procNet: procNet)
    }

    public func flavour() throws(PortFwdError) -> IptablesFlavour {
        if let flavourOverride { return flavourOverride }
        // libvirt's chains in legacy tables mean libvirt runs iptables-legacy: follow it.
        let legacy = iptables(.legacy, .ipv4)
        if legacy.hasTables("filter"), try legacy.save(table: "filter")["filter"].chains.keys.contains(where: { $0.hasPrefix("LIBVIRT_") }) {
            return .legacy
        }
        return .nft
    }

    public func install(_ plan: Plan) throws(PortFwdError) -> Installation {
        let flavour = try flavour()
        let flows = Flow.representatives(of: plan)
        // A family without forwards gets no chains at all (and loses any it had), so an
        // IPv4-only host never grows ip6tables tables of ours.
        let used = Family.allCases.filter { !plan.entries($0).isEmpty }
        var saved: [Iptables: IptablesRuleset] = [:]
        var changes: [(Iptables, apply: IptablesInput, undo: IptablesInput)] = []
        for family in Family.allCases {
            let ipt = iptables(flavour, family)
            guard used.contains(family) || ipt.hasTables() else { continue }
            // With counters, so that the new chains start from them.
            let before = try ipt.save(counters: true)
            saved[ipt] = before
            if used.contains(family) {
                changes.append((ipt, fill(plan, family, over: before, flows: flows),
                                restoring(before, family, mark: plan.settings.mark, afterFill: true,
                                          admits: plan.settings.admission != .none)))
            } else if ours(in: before) {
                changes.append((ipt, emptying(before), restoring(before, family, mark: plan.settings.mark, afterFill: false)))
            }
        }
        var steps: [Step] = []
        // Check every input before committing any: a refusal then changes nothing at all.
        let tests = changes.map { ($0.0, $0.apply) }
        steps.append(Step("check the rules with iptables-restore --test", apply: { () throws(PortFwdError) in
            for (ipt, input) in tests { try ipt.restore(input, test: true) }
        }, undo: { () throws(PortFwdError) in }))
        // One commit per table: iptables-restore commits table by table, so a two-table input
        // that fails in its second table has already changed the first.
        for (ipt, apply, undo) in changes {
            for table in apply.tables {
                let forward = apply.only(table), backward = undo.only(table)
                steps.append(Step("install \(ipt.tool) \(table) chains", apply: { () throws(PortFwdError) in try ipt.restore(forward, test: false) },
                                  undo: { () throws(PortFwdError) in try ipt.restore(backward, test: false) }))
            }
        }
        // Our FORWARD chain admits our connections in this flavour; other places (the other
        // flavour, libvirt's own nftables tables) still get a mark-scoped rule where needed.
        let filters = saved.filter { _, rules in rules.tables["filter"] != nil }
        let places = try Admission.survey(mark: plan.settings.mark, flows: flows, nft: nft, commands: commands, procNet: procNet, saved: filters)
        let covered = Set(Family.allCases.map { "\(iptables(flavour, $0).tool) FORWARD" })
        let (edits, held) = Admission(mark: plan.settings.mark, mode: plan.settings.admission).edits(places, covered: covered)
        steps += edits.map { edit in
            if case .iptables(let ipt, _, _) = edit { return edit.step("admission in \(ipt.tool) FORWARD", nft: nft) }
            return edit.step("admission in libvirt's nftables tables", nft: nft)
        }
        let chains = "chains in \(iptables(flavour, .ipv4).tool)/\(iptables(flavour, .ipv6).tool)"
        return Installation(steps: steps, notes: [chains] + held.map { "admission rule in \($0)" })
    }

    // MARK: - restore inputs

    /// Our chains refilled from the plan, and each jump made the one first rule of its chain.
    func fill(_ plan: Plan, _ family: Family, over before: IptablesRuleset, flows: [Flow]) -> IptablesInput {
        var input = IptablesInput()
        let rules = renderer.rules(plan, family: family)
        // The counting rules keep what they counted: the same rule text, so the same forward of
        // the same guest (its owner is in the rule's comment). Only the packets between the save
        // and the restore are lost.
        let mangle = before["mangle"]
        var counted: [String: [String: Counts]] = [:]
        for (index, rule) in mangle.rules.enumerated() where rule.chain == IptablesRenderer.count || rule.chain == IptablesRenderer.delivered {
            if let counts = mangle.counters[index] { counted[rule.chain, default: [:]][rule.spec] = counts }
        }
        for (table, chain) in IptablesRenderer.chains {
            // The admin's chain, created where our accept needs it (before the rule that jumps
            // to it) and never emptied: declaring an existing chain in restore input flushes it.
            if chain == IptablesRenderer.forward, plan.settings.admission != .none, before["filter"].chains[IptablesRenderer.user] == nil {
                input.add(.declare(table: table, chain: IptablesRenderer.user))
            }
            input.add(.declare(table: table, chain: chain))
            for spec in rules[chain] ?? [] {
                let counts = counted[chain]?[spec].flatMap { $0.packets > 0 || $0.bytes > 0 ? $0 : nil }
                input.add(.append(IptablesRule(table: table, chain: chain, spec: spec), counts: counts))
            }
        }
        for jump in Self.jumps {
            let builtin = before[jump.table].rules(in: jump.builtin)
            let existing = builtin.filter(jump.isOurs)
            let expected = jump.rule(family, mark: plan.settings.mark)
            guard let position = Self.position(of: jump, in: before, family: family, mark: plan.settings.mark, flows: flows) else { continue }
            for rule in existing { input.add(.delete(rule)) }
            input.add(.insert(expected, at: position))
        }
        return input
    }

    /// Where a jump of ours goes (1-based, once any of ours is deleted), or nil when it is
    /// where it belongs already. Into our DNAT and counting chains: first. Into
    /// LIBVIRT_PORTFWD_FWD, which admits: directly above the first rule that would reject our
    /// connections whoever the client is (or last), never above an admin's rule; one that is
    /// there, once, above that rule, stays where it is.
    static func position(of jump: Jump, in before: IptablesRuleset, family: Family, mark: Mark, flows: [Flow]) -> Int? {
        let builtin = before[jump.table].rules(in: jump.builtin)
        let existing = builtin.enumerated().filter { jump.isOurs($0.element) }
        let expected = jump.rule(family, mark: mark)
        guard jump.chain == IptablesRenderer.forward else {
            return existing.count == 1 && builtin.first == expected ? nil : 1
        }
        let obstacle = IptablesForwardChain.obstacle(in: before, family: family, flows: flows)
        if existing.count == 1, existing[0].element == expected, obstacle.map({ existing[0].offset < $0 }) ?? true { return nil }
        let at = obstacle ?? builtin.count
        return at - builtin.prefix(at).filter(jump.isOurs).count + 1
    }

    /// The restore input's tables never need this: kept for `drift`, which names a jump that
    /// is missing, or below the obstacle.
    static func misplaced(_ jump: Jump, in now: IptablesRuleset, family: Family, mark: Mark, flows: [Flow]) -> Drift.JumpDrift? {
        let builtin = now[jump.table].rules(in: jump.builtin)
        let ours = builtin.filter(jump.isOurs)
        if ours.isEmpty { return .missing }
        if jump.chain != IptablesRenderer.forward {
            return ours.count > 1 || builtin.first != jump.rule(family, mark: mark) ? .notFirst : nil
        }
        guard ours.count == 1, ours[0] == jump.rule(family, mark: mark) else { return .notAsWritten }
        let index = builtin.firstIndex(of: ours[0])!
        return IptablesForwardChain.obstacle(in: now, family: family, flows: flows)
            .map { index < $0 ? nil : .belowRejection } ?? nil
    }

    /// Every jump and chain of ours removed.
    func emptying(_ before: IptablesRuleset) -> IptablesInput {
        var input = IptablesInput()
        for jump in Self.jumps {
            for rule in before[jump.table].rules(in: jump.builtin) where jump.isOurs(rule) { input.add(.delete(rule)) }
        }
        for (table, chain) in IptablesRenderer.chains where before[table].chains[chain] != nil {
            input.add(.flush(table: table, chain: chain))
            input.add(.deleteChain(table: table, chain: chain))
        }
        if Self.emptyingDropsUser(before) { input.add(.deleteChain(table: "filter", chain: IptablesRenderer.user)) }
        return input
    }

    /// The admin's chain goes with ours only when it holds nothing, and nothing else (the
    /// other backend's admission rules) jumps to it.
    static func emptyingDropsUser(_ before: IptablesRuleset) -> Bool {
        let filter = before["filter"]
        return filter.chains[IptablesRenderer.user] != nil && filter.rules(in: IptablesRenderer.user).isEmpty
            && !filter.rules.contains { $0.chain != IptablesRenderer.forward && $0.spec.hasSuffix("-j \(IptablesRenderer.user)") }
    }

    /// The input that puts our jumps and chains back as `before` had them: after `fill`, which
    /// left exactly one jump per built-in chain, or after `emptying`, which left none.
    func restoring(_ before: IptablesRuleset, _ family: Family, mark: Mark, afterFill: Bool, admits: Bool = false) -> IptablesInput {
        var input = IptablesInput()
        if afterFill { for jump in Self.jumps { input.add(.delete(jump.rule(family, mark: mark))) } }
        for (table, chain) in IptablesRenderer.chains {
            // The admin's chain, removed by `emptying`, comes back (empty, as it was) before
            // the chain that jumps to it.
            if chain == IptablesRenderer.forward, !afterFill, Self.emptyingDropsUser(before) {
                input.add(.declare(table: table, chain: IptablesRenderer.user))
            }
            if before[table].chains[chain] != nil {
                input.add(.declare(table: table, chain: chain))
                for rule in before[table].rules(in: chain) { input.add(.append(rule, counts: nil)) }
            } else if afterFill {
                input.add(.flush(table: table, chain: chain))
                input.add(.deleteChain(table: table, chain: chain))
            }
        }
        // The admin's chain, made by this fill: removed again.
        if afterFill && admits && before["filter"].chains[IptablesRenderer.user] == nil {
            input.add(.deleteChain(table: "filter", chain: IptablesRenderer.user))
        }
        for jump in Self.jumps {
            for (i, rule) in before[jump.table].rules(in: jump.builtin).enumerated() where jump.isOurs(rule) {
                input.add(.insert(rule, at: i + 1))
            }
        }
        return input
    }

    func ours(in rules: IptablesRuleset) -> Bool {
        IptablesRenderer.chains.contains { rules[$0.table].chains[$0.chain] != nil }
    }

    // MARK: - the rest of the protocol

    public func validate(_ plan: Plan) throws(PortFwdError) {
        let flavour = try flavour()
        for family in Family.allCases where !plan.entries(family).isEmpty {
            let ipt = iptables(flavour, family)
            try ipt.restore(fill(plan, family, over: try ipt.save(), flows: Flow.representatives(of: plan)), test: true)
        }
    }

    public func removal(admission: Bool) throws(PortFwdError) -> Installation {
        var result = Installation()
        for flavour in IptablesFlavour.allCases {
            for family in Family.allCases {
                let ipt = iptables(flavour, family)
                guard ipt.hasTables() else { continue }
                let before = try ipt.save()
                guard ours(in: before)
                    || Self.jumps.contains(where: { j in before[j.table].rules(in: j.builtin).contains(where: j.isOurs) }) else { continue }
                let apply = emptying(before), undo = restoring(before, family, mark: .default, afterFill: false)
                for table in apply.tables {
                    let forward = apply.only(table), backward = undo.only(table)
                    result.steps.append(Step("remove \(ipt.tool) \(table) chains",
                                             apply: { () throws(PortFwdError) in try ipt.restore(forward, test: false) },
                                             undo: { () throws(PortFwdError) in try ipt.restore(backward, test: false) }))
                }
            }
        }
        if admission {
            let places = try Admission.survey(mark: .default, nft: nft, commands: commands, procNet: procNet)
            result = result + NftablesBackend.clearing(places, nft: nft)
        }
        return result
    }

    public func installed() throws(PortFwdError) -> Bool {
        let flavour = try flavour()
        for family in Family.allCases {
            let ipt = iptables(flavour, family)
            if ipt.hasTables("filter"), try ipt.save(table: "filter")["filter"].chains[IptablesRenderer.forward] != nil { return true }
        }
        return false
    }

    public func counters(for plan: Plan) throws(PortFwdError) -> Counters? {
        let flavour = try flavour()
        var result: Counters = [:]
        var found = false
        for family in Family.allCases {
            let ipt = iptables(flavour, family)
            guard ipt.hasTables("mangle") else { continue }
            let rules = try ipt.save(table: "mangle", counters: true)
            found = found || rules["mangle"].chains[IptablesRenderer.count] != nil
            result.merge(Self.counters(of: plan.entries(family), in: rules)) { a, _ in a }
        }
        return found ? result : nil
    }

    public func drift(from plan: Plan) throws(PortFwdError) -> [Drift] {
        let flavour = try flavour()
        let flows = Flow.representatives(of: plan)
        var drift: [Drift] = []
        var saved: [Iptables: IptablesRuleset] = [:]
        for family in Family.allCases {
            let ipt = iptables(flavour, family)
            let used = !plan.entries(family).isEmpty
            guard used || ipt.hasTables() else { continue }
            let now = try ipt.save()
            saved[ipt] = now
            let expected = renderer.rules(plan, family: family)
            for (table, chain) in IptablesRenderer.chains {
                let have = now[table].rules(in: chain).map(\.spec)
                if !used {
                    if now[table].chains[chain] != nil { drift.append(.chain(tool: ipt.tool, chain: chain, .leftOver)) }
                    continue
                }
                guard now[table].chains[chain] != nil else { drift.append(.chain(tool: ipt.tool, chain: chain, .missing)); continue }
                if have != expected[chain] ?? [] { drift.append(.chain(tool: ipt.tool, chain: chain, .differs)) }
            }
            guard used else { continue }
            for jump in Self.jumps {
                if let problem = Self.misplaced(jump, in: now, family: family, mark: plan.settings.mark, flows: flows) {
                    drift.append(.jump(tool: ipt.tool, from: jump.builtin, to: jump.chain, problem))
                }
            }
        }
        let filters = saved.filter { _, rules in rules.tables["filter"] != nil }
        let places = try Admission.survey(mark: plan.settings.mark, flows: flows, nft: nft, commands: commands, procNet: procNet, saved: filters)
        let covered = Set(Family.allCases.map { "\(iptables(flavour, $0).tool) FORWARD" })
        drift += Admission(mark: plan.settings.mark, mode: plan.settings.admission).drift(places, covered: covered)
        return drift
    }

    /// What the counting rules of `entries` hold in an `iptables-save -c` of the mangle table:
    /// both directions in one counter per side, as in the nftables backend. Rules are found by
    /// the exact text the renderer writes for each forward and its owner; a forward without
    /// rules is left out.
    static func counters(of entries: [PlanEntry], in rules: IptablesRuleset) -> Counters {
        let table = rules["mangle"]
        var held: [String: [String: Counts]] = [:]
        for (index, rule) in table.rules.enumerated() where rule.chain == IptablesRenderer.count || rule.chain == IptablesRenderer.delivered {
            if let counts = table.counters[index] { held[rule.chain, default: [:]][rule.spec] = counts }
        }
        var result: Counters = [:]
        for e in entries {
            let key = ForwardKey(e), rule = IptablesRenderer.counting(key, owner: e.owner)
            guard let dnat = held[IptablesRenderer.count]?[rule] else { continue }
            result[key] = ForwardCounters(owner: e.owner, dnat: dnat, delivered: held[IptablesRenderer.delivered]?[rule])
        }
        return result
    }
}
