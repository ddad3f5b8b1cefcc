/// A chain on the forward hook that would drop or reject some of our traffic, found in the
/// kernel's own ruleset: `table inet filter chain forward: policy drop`. `sure` when it drops
/// it whatever the client (the forwards are turned away); otherwise it depends on the client,
/// on the bridge, or on something this tool does not read, and it is named only where the
/// counters show packets lost.
public struct Suspect: Sendable, Hashable, CustomStringConvertible {
    /// `table inet filter chain forward`.
    public let place: String
    /// What drops: `policy drop`, `rule 3 (-j LIBVIRT_FWI), rule 2 (-o virbr0 -j REJECT ...)`.
    public let what: String
    public let sure: Bool
    /// The forwards whose traffic it drops, and which of their traffic.
    public let forwards: [PlanEntry]
    public let traffic: Set<String>

    public var description: String { "\(place): \(what)" }

    /// Every suspect in `tables` for `flows`: each base chain's drops, sure ones first.
    public static func find(_ flows: [Flow], in tables: [FilterTable]) -> [Suspect] {
        struct Key: Hashable { let place: String; let what: String; let sure: Bool }
        var found: [Key: (forwards: [PlanEntry], traffic: Set<String>)] = [:]
        var seen: [Key: Set<PlanEntry>] = [:]
        var order: [Key] = []
        let groups = Flow.grouped(flows)
        for table in tables {
            let walk = ChainWalk(table)
            for base in table.baseChains {
                for (flow, forwards) in groups {
                    for ending in walk.endings(of: flow, base: base) {
                        guard case .dropped(let path) = ending.kind else { continue }
                        let key = Key(place: "\(table.name) chain \(base)", what: path.joined(separator: ", then "), sure: ending.isSure)
                        if found[key] == nil { order.append(key); found[key] = ([], []) }
                        for forward in forwards where seen[key, default: []].insert(forward).inserted { found[key]!.forwards.append(forward) }
                        found[key]!.traffic.insert(flow.label)
                    }
                }
            }
        }
        let suspects = order.map {
            Suspect(place: $0.place, what: $0.what, sure: $0.sure, forwards: found[$0]!.forwards, traffic: found[$0]!.traffic)
        }
        // A chain that surely drops a forward's traffic is named once for it, not again as a maybe.
        let sure = Set(suspects.filter(\.sure).map { "\($0.place): \($0.what)" })
        return suspects.filter { $0.sure || !sure.contains("\($0.place): \($0.what)") }.sorted { $0.sure && !$1.sure }
    }

    /// Every suspect for a plan's traffic: each guest side walked once, its suspects then
    /// named for every forward that shares it (10,000 host ports to one guest port: one walk).
    public static func find(_ plan: Plan, in tables: [FilterTable]) -> [Suspect] {
        let sides = Flow.sides(of: plan)
        var members: [PlanEntry: [PlanEntry]] = [:]
        for side in sides { members[side[0]] = side }
        let flows = Flow.flows(of: sides.map { $0[0] }, settings: plan.settings, bridges: plan.bridges)
        return find(flows, in: tables).map { s in
            Suspect(place: s.place, what: s.what, sure: s.sure, forwards: s.forwards.flatMap { members[$0] ?? [$0] }, traffic: s.traffic)
        }
    }

    /// For `status`: the forwards, by spec, and what of their traffic it drops.
    public var line: String {
        let named = forwards.prefix(3).map { "guest \($0.guest) \($0.forward.spec)" }.joined(separator: ", ")
        let more = forwards.count > 3 ? " and \(forwards.count - 3) more" : ""
        let what = ["new connections", "established connections", "replies"].filter(traffic.contains).joined(separator: ", ")
        return "\(place): \(self.what): stops the \(what) of \(named)\(more)"
    }
}
