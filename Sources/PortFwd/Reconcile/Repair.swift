import PortFwdCore
import PortFwdSystem

/// What one check of the service found, and what it did about it.
public struct Repair: Sendable {
    public enum Verdict: Sendable, Equatable {
        /// The kernel held the plan, and the records agreed with libvirt: nothing installed.
        case steady
        /// libvirt's side changed a guest, and the kernel held a plan of ours from before it
        /// did: a routine follow-up, installed.
        case followed
        /// Another program changed the kernel (what it changed); the plan was installed again.
        case repaired(others: [Drift])
        /// The mode is `off` (after `flush`): nothing looked at, nothing installed.
        case off
    }

    public let verdict: Verdict
    /// The plan and what it left pending, followed or held back, as installed (or, when
    /// steady, as the kernel holds it).
    public let outcome: Outcome
}

extension Reconciler {
    /// The service's check, as one transaction under the state lock: the records are made to
    /// agree with libvirt and planned once, the kernel is compared with that plan, and the plan
    /// is installed only if either differs. Under one lock, so that no hook's install comes
    /// between the judgement and the install.
    ///
    /// Whether a difference is another program's doing needs a plan from before: the kernel
    /// holding `held` (the plan the caller last saw installed) makes it a follow-up; when it
    /// does not, the plan of the records as they were is computed, a second plan, as a hook may
    /// have installed since.
    public func repair(limit: FollowLimit?, held: Plan?) throws(PortFwdError) -> Repair {
        try locked { () throws(PortFwdError) -> Repair in
            guard recordedMode != .off else { return Repair(verdict: .off, outcome: Outcome(plan: .empty(config.settings))) }
            var change = Change.sync
            change.followLimit = limit
            let prepared = try prepare(change)
            // One survey of the other firewalls for the judgement and the install.
            let judged = host.backends(config.settings, store: store, survey: AdmissionSurvey())
            let backend = judged.selected
            let drift = try backend.drift(from: prepared.outcome.plan)
            if drift.isEmpty && !prepared.guestsChanged { return Repair(verdict: .steady, outcome: prepared.outcome) }
            var others = drift
            if prepared.guestsChanged {
                // A guest changed: routine, if the kernel still held the plan from before it did.
                // Anything else in the kernel is another program's doing.
                others = try held.map { plan throws(PortFwdError) in try backend.drift(from: plan) } ?? drift
                if held == nil || !others.isEmpty {
                    let (before, isolated, bridges) = resolve(prepared.loaded, mode: prepared.outcome.mode)
                    let plan = try Plan(guests: before.guests, settings: config.settings, isolated: isolated, bridges: bridges)
                    others = try backend.drift(from: plan)
                }
            }
            // A rule whose expression differs from what the install learnt: the kernel was changed,
            // or what was learnt is wrong (learnt from a rule changed between our swap and its
            // listing). Forgotten, so that this install learns its rules again either way.
            if (drift + others).contains(where: { if case .table(.alteredRule) = $0 { true } else { false } }) {
                try? store.setRuleContents(nil)
            }
            let outcome = try commit(prepared, change, using: judged)
            return Repair(verdict: others.isEmpty ? .followed : .repaired(others: others), outcome: outcome)
        }
    }
}
