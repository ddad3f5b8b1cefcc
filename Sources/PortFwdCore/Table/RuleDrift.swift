extension NftChain {
    /// How this chain's rules (the installed ones) differ from `plan`'s, by identity and
    /// order. The longest run of rules both hold in the same order stays; a rule of the plan
    /// held elsewhere than that run is out of order (named once for the chain); between two
    /// rules of the run, a held rule and a planned one in the same place are a replacement,
    /// and what is left over is missing or extra.
    func ruleDrift(from plan: NftChain) -> [TableDrift] {
        let held = rules.map(\.identity), planned = plan.rules.map(\.identity)
        if held == planned { return [] }
        let steps = Self.alignment(held, planned)
        var left: Set<RuleIdentity> = [], right: Set<RuleIdentity> = []
        for step in steps {
            switch step {
            case .held(let i): if let id = held[i] { left.insert(id) }
            case .planned(let j): if let id = planned[j] { right.insert(id) }
            case .both: break
            }
        }
        let moved = left.intersection(right)
        var result: [TableDrift] = []
        var extra: [RuleIdentity?] = [], missing: [RuleIdentity?] = []
        func settle() {
            for (have, want) in zip(extra, missing) { result.append(.replacedRule(name, role: want?.role ?? "?", by: have?.role)) }
            result += missing.dropFirst(extra.count).map { .missingRule(name, role: $0?.role ?? "?") }
            result += extra.dropFirst(missing.count).map { .extraRule(name, role: $0?.role) }
            extra = []
            missing = []
        }
        for step in steps {
            switch step {
            case .both: settle()
            case .held(let i): if held[i].map(moved.contains) != true { extra.append(held[i]) }
            case .planned(let j): if planned[j].map(moved.contains) != true { missing.append(planned[j]) }
            }
        }
        settle()
        if !moved.isEmpty { result.append(.ruleOrder(name)) }
        return result
    }

    /// Rules of the plan, held under their identity, whose expression is not the one our
    /// install left there: each named once. A rule `contents` does not know is not judged.
    func contentDrift(from plan: NftChain, _ contents: RuleContents) -> [TableDrift] {
        if contents.isEmpty { return [] }
        let planned = Set(plan.rules.compactMap(\.identity))
        var named: Set<RuleIdentity> = []
        var result: [TableDrift] = []
        for rule in rules {
            guard let identity = rule.identity, planned.contains(identity), let held = rule.content,
                  let installed = contents[name, identity], held != installed, named.insert(identity).inserted else { continue }
            result.append(.alteredRule(name, role: identity.role))
        }
        return result
    }

    enum Step { case both, held(Int), planned(Int) }

    /// A longest common subsequence of two short lists (a chain holds a few rules), as the
    /// steps that walk both: kept, only in `a`, only in `b`. An unlabelled rule matches nothing.
    static func alignment(_ a: [RuleIdentity?], _ b: [RuleIdentity?]) -> [Step] {
        var length = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in stride(from: a.count - 1, through: 0, by: -1) {
            for j in stride(from: b.count - 1, through: 0, by: -1) {
                length[i][j] = a[i] != nil && a[i] == b[j] ? length[i + 1][j + 1] + 1 : max(length[i + 1][j], length[i][j + 1])
            }
        }
        var steps: [Step] = [], i = 0, j = 0
        while i < a.count || j < b.count {
            if i < a.count, j < b.count, a[i] != nil, a[i] == b[j] {
                steps.append(.both)
                i += 1
                j += 1
            } else if j == b.count || (i < a.count && length[i + 1][j] >= length[i][j + 1]) {
                steps.append(.held(i))
                i += 1
            } else {
                steps.append(.planned(j))
                j += 1
            }
        }
        return steps
    }
}
