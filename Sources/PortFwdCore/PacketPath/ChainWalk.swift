/// Where a flow's way through a table may end: accepted, dropped (and by what), or returned
/// to the caller, with the doubts on that way. No doubt means it surely ends there.
public struct Ending: Sendable, Hashable {
    public enum Kind: Sendable, Hashable {
        case accepted, returned
        /// Dropped or rejected: by the rules along `path`, or by the base chain's policy
        /// (then the path ends in `policy drop`).
        case dropped(path: [String])
    }

    public let kind: Kind
    public let doubts: Set<Doubt>

    public var isSure: Bool { doubts.isEmpty }
}

/// The walk of one flow through one table's chains, rule by rule, as the kernel would take
/// it: jumps and gotos followed (at most `maximumDepth` deep, never around a loop), every
/// ending it may reach collected with its doubts.
public struct ChainWalk: Sendable {
    public static let maximumDepth = 16

    public let table: FilterTable

    public init(_ table: FilterTable) { self.table = table }

    /// Every way `flow` may end in base chain `name`, its policy included.
    public func endings(of flow: Flow, base name: String) -> [Ending] {
        guard let chain = table.chains[name] else { return [] }
        if let family = table.family, family != flow.family { return [] }
        var result: [Ending] = []
        for ending in walk(chain, flow, depth: 0, stack: [name], skipping: { _ in false }) {
            switch ending.kind {
            case .returned:
                // The end of a base chain, or a return in it: its policy decides.
                if chain.policy?.isDrop == true {
                    result.append(Ending(kind: .dropped(path: ["policy drop"]), doubts: ending.doubts))
                } else {
                    result.append(Ending(kind: .accepted, doubts: ending.doubts))
                }
            default: result.append(ending)
            }
        }
        return result
    }

    /// The first rule of base chain `name` that would drop or reject `flows` wherever the
    /// client is: a rule whose drop depends only on which bridge the guest sits behind
    /// (libvirt's reject) counts, one that depends on the client (an admin's block) never
    /// does. `rules.count` when only the policy drops them; nil when nothing does. Rules for
    /// which `ignoring` holds (ours) are passed over.
    public func obstacle(for flows: [Flow], base name: String, ignoring ours: (FilterRule) -> Bool) -> Int? {
        guard let chain = table.chains[name] else { return nil }
        let relevant = Flow.grouped(flows.filter { table.family == nil || table.family == $0.family }).map(\.flow)
        for (index, rule) in chain.rules.enumerated() where !ours(rule) {
            let one = FilterChain(name: name, rules: [rule])
            for flow in relevant where flow.direction == .original {
                let drops = walk(one, flow, depth: 0, stack: [name], skipping: ours).contains { e in
                    if case .dropped = e.kind { return e.doubts.isSubset(of: [.topology]) }
                    return false
                }
                if drops { return index }
            }
        }
        guard chain.policy?.isDrop == true else { return nil }
        // The policy drops what no rule took: wherever it can be reached at all, it is the
        // obstacle, and a rule of ours goes last, below every rule of the admin's.
        for flow in relevant where flow.direction == .original {
            if walk(chain, flow, depth: 0, stack: [name], skipping: ours).contains(where: { $0.kind == .returned }) { return chain.rules.count }
        }
        return nil
    }

    private func walk(_ chain: FilterChain, _ flow: Flow, depth: Int, stack: [String], skipping ours: (FilterRule) -> Bool) -> [Ending] {
        var result: [Ending] = []
        // Doubts on reaching the current rule: empty while the flow surely gets here.
        var reach = Set<Doubt>()
        for rule in chain.rules {
            if ours(rule) { continue }
            let m = rule.match(flow)
            if m == .no { continue }
            let here = reach.union(m.doubts)
            let sure = m == .yes
            let at = "\(rule.position) (\(rule.text))"
            func end(_ kind: Ending.Kind) -> Bool {
                result.append(Ending(kind: kind, doubts: here))
                if sure { return true }
                reach.formUnion(m.doubts)
                return false
            }
            switch rule.verdict {
            case .none: continue
            case .accept: if end(.accepted) { return result }
            case .drop, .reject: if end(.dropped(path: [at])) { return result }
            case .return: if end(.returned) { return result }
            case .other(let what):
                // A verdict this tool does not model (queue, say): it may end the flow's way.
                result.append(Ending(kind: .dropped(path: ["\(at), which \(what)"]), doubts: here.union([.unknown])))
                reach.formUnion(m.doubts.union([.unknown]))
            case .jump(let target), .goto(let target):
                let isGoto = { if case .goto = rule.verdict { return true }; return false }()
                guard let sub = table.chains[target], depth < Self.maximumDepth, !stack.contains(target) else {
                    // Too deep, a loop, or a chain not read: anything may happen there.
                    result.append(Ending(kind: .dropped(path: ["\(at): chain \(target) not followed"]), doubts: here.union([.unknown])))
                    reach.formUnion(m.doubts.union([.unknown]))
                    continue
                }
                var stops = false
                var continuing = Set<Doubt>()
                for e in walk(sub, flow, depth: depth + 1, stack: stack + [target], skipping: ours) {
                    let doubts = here.union(e.doubts)
                    switch e.kind {
                    case .returned:
                        if isGoto { result.append(Ending(kind: .returned, doubts: doubts)) }
                    case .accepted:
                        result.append(Ending(kind: .accepted, doubts: doubts))
                        if sure && e.isSure { stops = true }
                        continuing.formUnion(e.doubts)
                    case .dropped(let path):
                        result.append(Ending(kind: .dropped(path: [at] + path), doubts: doubts))
                        if sure && e.isSure { stops = true }
                        continuing.formUnion(e.doubts)
                    }
                }
                if stops || (isGoto && sure) { return result }
                reach.formUnion(m.doubts.union(continuing))
            }
        }
        result.append(Ending(kind: .returned, doubts: reach))
        return result
    }
}
