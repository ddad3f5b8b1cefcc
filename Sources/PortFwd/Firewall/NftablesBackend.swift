import PortFwdCore
import PortFwdSystem

/// The default strategy: one `inet libvirt_portfwd` table replaced whole through libnftables,
/// plus mark-scoped admission where another firewall would reject our connections.
///
/// An install is at most a few iptables-restore calls for admission in iptables chains, each
/// with its undo, and then one libnftables transaction holding both the table swap and every
/// admission edit in libvirt's own nftables tables: if that transaction fails, nothing of it
/// happened, and the iptables edits are undone.
public struct NftablesBackend: FirewallBackend {
    public let name = Settings.Backend.nftables
    let nft: NftablesRunner
    let commands: CommandRunner
    let procNet: String
    /// Where what the kernel made of our rules is kept (`RuleContents`); without one, rules
    /// are compared by identity alone.
    let store: StateStore?
    /// One transaction's survey of the other firewalls, shared by its judgement and its
    /// install; nil surveys at each.
    let survey: AdmissionSurvey?

    public init(nft: NftablesRunner, commands: CommandRunner, procNet: String, store: StateStore? = nil, survey: AdmissionSurvey? = nil) {
        self.nft = nft
        self.commands = commands
        self.procNet = procNet
        self.store = store
        self.survey = survey
    }

    /// Where admission goes for `plan`: surveyed, or as this transaction surveyed it already.
    func places(_ plan: Plan) throws(PortFwdError) -> [any AdmissionPlace] {
        let mark = plan.settings.mark, flows = Flow.representatives(of: plan)
        let (nft, commands, procNet) = (self.nft, self.commands, self.procNet)
        let fresh = { () throws(PortFwdError) -> [any AdmissionPlace] in
            try Admission.survey(mark: mark, flows: flows, nft: nft, commands: commands, procNet: procNet)
        }
        guard let survey else { return try fresh() }
        return try survey.places(mark: mark, flows: flows, fresh)
    }

    public static let table = "inet \(NftRenderer.table)"

    var renderer: NftRenderer { NftRenderer(replace: nft.hasDestroy ? .destroy : .declareAndDelete) }

    public func render(_ plan: Plan) -> String { renderer.render(plan) }

    public func install(_ plan: Plan) throws(PortFwdError) -> Installation {
        // Survey first. The swap does not touch the other firewalls, and after a large commit
        // libnftables' next read fetches every set element again, ours included.
        let places = try places(plan)
        let (edits, held) = Admission(mark: plan.settings.mark, mode: plan.settings.admission).edits(places)
        var steps: [Step] = []
        var alongside = NftTransaction()
        for edit in edits {
            switch edit {
            case .iptables(let iptables, _, _): steps.append(edit.step("admission in \(iptables.tool) FORWARD", nft: nil))
            // Inside the table's transaction: never undone on their own.
            case .nft(let commands, _): alongside = alongside + commands
            }
        }
        // Counters carried across the swap; one that cannot be read starts again from zero.
        // Only the count sets this plan fills are read: nothing in the others could be carried.
        let table = NftTable(plan: plan, counters: (try? currentCounters(CountSet.filled(by: plan))) ?? [:])
        let swap = alongside + renderer.transaction(table)
        let nft = self.nft, store = self.store, chains = table.chains
        // Last, so it never needs undoing: a transaction the kernel refused left nothing behind.
        steps.append(Step("replace table \(Self.table)",
                          apply: { () throws(PortFwdError) in
                              try nft.commit(swap)
                              Self.learn(chains, nft: nft, store: store)
                          },
                          undo: { () throws(PortFwdError) in throw PortFwdError(.partial, "a committed table swap is never undone") }))
        return Installation(steps: steps, notes: held.map { "admission rule in \($0)" })
    }

    public func validate(_ plan: Plan) throws(PortFwdError) {
        do { try nft.commit(renderer.transaction(plan), dryRun: true) } catch {
            throw PortFwdError(error.code, "the kernel refused the ruleset: \(error.message)")
        }
    }

    public func removal(admission: Bool) throws(PortFwdError) -> Installation {
        var result = Installation()
        if admission {
            let places = try Admission.survey(mark: .default, nft: nft, commands: commands, procNet: procNet)
            result = result + Self.clearing(places, nft: nft)
        }
        let nft = self.nft
        if admission {
            // A trace table a killed `trace` left behind (inert past its deadline) goes with the rest.
            result.steps.append(Step("delete table \(TraceTable.table)", apply: { () throws(PortFwdError) in
                do throws(PortFwdError) { try nft.commit(.delete(.table(.trace))) } catch {
                    if error.code != .notFound { throw error }
                }
            }, undo: { () throws(PortFwdError) in }))
        }
        result.steps.append(Step("delete table \(Self.table)", apply: { () throws(PortFwdError) in
            if nft.hasDestroy { try nft.commit(.destroy(.table(.ours))); return }
            do throws(PortFwdError) { try nft.commit(.delete(.table(.ours))) } catch {
                if error.code != .notFound { throw error }
            }
        }, undo: { () throws(PortFwdError) in }))
        return result
    }

    /// Right after a swap of `chains`: what the kernel made of our rules, kept for drift to
    /// compare with; only when the store does not know them yet in this generation (a listing
    /// costs more than the rest of a small apply). One terse listing, without set elements.
    /// Never fails the install it follows: what cannot be learnt is forgotten, and rules are
    /// compared by identity alone until the next install learns them.
    static func learn(_ chains: [NftChain], nft: NftablesRunner, store: StateStore?) {
        guard let store else { return }
        let generation = nft.generation
        if store.ruleContents?.covers(chains, generation: generation) == true { return }
        do throws(PortFwdError) {
            try store.setRuleContents(RuleContents(listed: try NftJSON.table(try nft.list(.rules), only: .ours), generation: generation))
        } catch {
            try? store.setRuleContents(nil)
        }
    }

    /// Steps that take every admission rule of ours out of `places`.
    static func clearing(_ places: [any AdmissionPlace], nft: NftablesRunner?) -> Installation {
        var result = Installation()
        for place in places where place.hasOurs {
            result.steps.append(place.clear().step("remove admission from \(place.id)", nft: nft))
        }
        return result
    }

    /// Every count set's counters, by forward, read typed from the kernel; the plan is not needed.
    public func counters(for plan: Plan) throws(PortFwdError) -> Counters? {
        guard try installed() else { return nil }
        return try currentCounters()
    }

    /// What `counted` (every count set unless told) holds now; empty without a table.
    func currentCounters(_ counted: [CountSet] = CountSet.all) throws(PortFwdError) -> Counters {
        var sets = NftTable()
        for set in counted {
            do throws(PortFwdError) {
                sets.sets.append(NftSet(name: set.name, key: set.key, interval: set.kind == .ranges, counter: true,
                                        elements: try nft.elements(of: .ours, set: set.name, key: set.key)))
            } catch {
                if error.code != .notFound { throw error }
            }
        }
        return sets.counters
    }

    /// Whether our table exists (a libnftables listing that touches our table would fetch all
    /// its set elements).
    public func installed() throws(PortFwdError) -> Bool { try nft.exists(.ours, chain: nil) }

    public func drift(from plan: Plan) throws(PortFwdError) -> [Drift] { try inspect(plan).drift }

    /// The table listed once: its drift from the plan, and the counters its count sets hold.
    public func inspect(_ plan: Plan) throws(PortFwdError) -> (drift: [Drift], counters: Counters?) {
        var drift: [Drift] = []
        let listing: String
        do { listing = try nft.list(.table(.ours)) } catch {
            if error.code != .notFound { throw error }
            return ([.tableMissing] + (try admissionDrift(plan)), nil)
        }
        let table = try NftJSON.table(listing)
        let fingerprint = renderer.fingerprint(plan)
        if table.fingerprint != fingerprint {
            drift.append(.otherPlan(held: table.fingerprint, planned: fingerprint))
        } else {
            // Same plan: anything else is a change made behind our back.
            // Digests learnt by another libnftables or kernel say nothing of this listing.
            let contents = store?.ruleContents.flatMap { $0.generation == nft.generation ? $0 : nil } ?? RuleContents()
            drift += table.drift(from: NftTable(plan: plan), contents: contents).map(Drift.table)
        }
        return (drift + (try admissionDrift(plan)), table.counters)
    }

    /// Places that should hold our rule and do not, or hold it below what rejects.
    func admissionDrift(_ plan: Plan) throws(PortFwdError) -> [Drift] {
        Admission(mark: plan.settings.mark, mode: plan.settings.admission).drift(try places(plan))
    }
}
