import PortFwdCore
import PortFwdSystem

/// Whether packets get through, judged twice: from the kernel's ruleset (every chain on the
/// forward hook that would drop our traffic, `Suspect`) and from the counters (what entered the
/// forward path after our DNAT against what left it). A chain that surely drops a forward's
/// traffic turns it away: a problem. A forward whose packets all entered and none left: a
/// problem, with the chains that may be the cause. Some lost while others pass (an admin's
/// block of one client, say): a warning, and only where a chain explains it; no chain that
/// cannot match our traffic is ever named.
public struct ForwardHealth: Sendable {
    public let suspects: [Suspect]
    public let problems: [String]
    public let warnings: [String]
    /// Each surely dropped forward, with the chains that drop it.
    public let turnedAway: [PlanEntry: [String]]

    public init(entries: [PlanEntry], counters: Counters?, suspects: [Suspect]) {
        self.suspects = suspects
        var problems: [String] = [], warnings: [String] = []
        var turnedAway: [PlanEntry: [String]] = [:]
        for suspect in suspects where suspect.sure {
            let first = suspect.forwards[0]
            problems.append("\(suspect.line): turned away (libvirt-portfwd trace \(first.guest) \(first.hostPorts.lower) shows a packet's way)")
            for entry in suspect.forwards { turnedAway[entry, default: []].append(suspect.description) }
        }
        let possible = suspects.filter { !$0.sure }.map { ($0.description, Set($0.forwards)) }
        for entry in entries where turnedAway[entry] == nil {
            guard let counted = counters?[ForwardKey(entry)], counted.owner == nil || counted.owner == entry.owner,
                  let delivered = counted.delivered, counted.dnat.packets > delivered.packets else { continue }
            let maybe = possible.filter { $0.1.contains(entry) }.map(\.0)
            let lost = counted.dnat.packets - delivered.packets
            let forward = "guest \(entry.guest) forward \(entry.forward.spec)"
            let cause = maybe.isEmpty
                ? "no chain on the forward hook says why (libvirt-portfwd trace \(entry.guest) \(entry.hostPorts.lower) shows a packet's way)"
                : "perhaps \(maybe.prefix(3).joined(separator: "; "))"
            if delivered.packets == 0 {
                problems.append("\(forward): \(counted.dnat.packets) packets DNATed, none delivered: something between drops them; \(cause)")
            } else if !maybe.isEmpty {
                warnings.append("\(forward): \(lost) of \(counted.dnat.packets) packets DNATed were not delivered; \(cause)")
            }
        }
        self.problems = problems
        self.warnings = warnings
        self.turnedAway = turnedAway
    }
}

extension Reconciler {
    /// The other firewalls on the forward hook, as the kernel holds them now, judged against
    /// the plan's traffic. With `admitted`, as they will be once admission put its rules where
    /// they belong (for `check --kernel`, which installs nothing).
    public func suspects(_ plan: Plan, admitted: Bool = false) throws(PortFwdError) -> [Suspect] {
        let flows = Flow.representatives(of: plan)
        guard !flows.isEmpty, host.probe else { return [] }
        let nft = host.nftablesReachable ? host.nft : nil
        var tables = try Neighbours.survey(nft: nft, commands: host.commands, procNet: host.procNet)
        if admitted {
            let places = try Admission.survey(mark: plan.settings.mark, flows: flows, nft: nft, commands: host.commands, procNet: host.procNet)
            tables = Neighbours.admitted(tables, places: places, admission: Admission(mark: plan.settings.mark, mode: plan.settings.admission))
        }
        return Suspect.find(plan, in: tables)
    }
}
