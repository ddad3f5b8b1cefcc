/// Our table as a value: the sets, maps and chains the plan needs (`NftTable(plan:)`), or what
/// the kernel lists (read by `NftJSON.table`). `NftRenderer` prints it; `drift(from:)`
/// compares two of them element by element.
public struct NftTable: Sendable {
    public var sets: [NftSet]
    public var chains: [NftChain]

    public init(sets: [NftSet] = [], chains: [NftChain] = []) {
        self.sets = sets
        self.chains = chains
    }

    public func set(_ name: String) -> NftSet? { sets.first { $0.name == name } }
    public func chain(_ name: String) -> NftChain? { chains.first { $0.name == name } }

    /// The fingerprint carried in a rule comment, if one is.
    public var fingerprint: Fingerprint? {
        chains.lazy.flatMap(\.rules).compactMap { $0.comment.flatMap(Fingerprint.inComment) }.first
    }

    /// How this table (the installed one) differs from `plan`: by set, element, chain and rule;
    /// and, where `contents` knows what our install left, by each rule's expression.
    public func drift(from plan: NftTable, contents: RuleContents = RuleContents()) -> [TableDrift] {
        var result: [TableDrift] = []
        let have = Dictionary(sets.map { ($0.name, $0) }) { a, _ in a }
        let want = Dictionary(plan.sets.map { ($0.name, $0) }) { a, _ in a }
        for name in Set(have.keys).union(want.keys).sorted() {
            guard let wanted = want[name] else { result.append(.extraSet(name)); continue }
            guard let held = have[name] else { result.append(.missingSet(name)); continue }
            if !held.declaredLike(wanted) { result.append(.declaration(name, held: held.declaration, planned: wanted.declaration)); continue }
            let heldElements = Set(held.elements), wantedElements = Set(wanted.elements)
            if heldElements == wantedElements { continue }
            // A few of each, as knftables' diff names them: what to look for.
            let lacking = wanted.elements.filter { !heldElements.contains($0) }
            let extra = held.elements.filter { !wantedElements.contains($0) }
            result += lacking.prefix(3).map { .lacks(name, map: wanted.isMap, $0) }
            if lacking.count > 3 { result.append(.lacksMore(name, map: wanted.isMap, lacking.count - 3)) }
            result += extra.prefix(3).map { .holds(name, map: wanted.isMap, $0) }
            if extra.count > 3 { result.append(.holdsMore(name, map: wanted.isMap, extra.count - 3)) }
        }
        let haveHooks = Dictionary(chains.map { ($0.name, $0.hook) }) { a, _ in a }
        for chain in plan.chains {
            if let held = haveHooks[chain.name], held != chain.hook { result.append(.hook(chain.name, held: held, planned: chain.hook)) }
        }
        let haveChains = Dictionary(chains.map { ($0.name, $0) }) { a, _ in a }
        let wantChains = Dictionary(plan.chains.map { ($0.name, $0) }) { a, _ in a }
        for name in Set(haveChains.keys).union(wantChains.keys).sorted() {
            switch (haveChains[name], wantChains[name]) {
            case let (held?, planned?): result += held.ruleDrift(from: planned) + held.contentDrift(from: planned, contents)
            case (nil, _): result.append(.missingChain(name))
            case (_, nil): result.append(.extraChain(name))
            }
        }
        return result
    }
}
