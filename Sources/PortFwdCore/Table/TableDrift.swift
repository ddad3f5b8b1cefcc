/// One way an installed table differs from its plan, named as the admin would look for it.
public enum TableDrift: Hashable, Sendable, CustomStringConvertible {
    case missingSet(String)
    case extraSet(String)
    /// The set exists with another type or other flags.
    case declaration(String, held: String, planned: String)
    case lacks(String, map: Bool, NftElement)
    case lacksMore(String, map: Bool, Int)
    case holds(String, map: Bool, NftElement)
    case holdsMore(String, map: Bool, Int)
    case missingChain(String)
    case extraChain(String)
    /// A rule of the plan, named by its role, that the chain does not hold.
    case missingRule(String, role: String)
    /// A rule the plan does not have: one of ours (by role) from elsewhere, or nil for a rule
    /// without our identity, such as one someone inserted.
    case extraRule(String, role: String?)
    /// In the place of a rule of the plan, another: one of ours by `by`'s role (a rule whose
    /// statement changed keeps its role and loses its digest), or nil for an unlabelled one.
    case replacedRule(String, role: String, by: String?)
    /// Rules of the plan held in another order than the plan's.
    case ruleOrder(String)
    /// A rule that carries our identity and comment with another expression than our install
    /// left under them (`RuleContents`): replaced in place, the comment copied.
    case alteredRule(String, role: String)
    /// A chain attached elsewhere, or not at all, or with another policy.
    case hook(String, held: NftHook?, planned: NftHook?)

    public var description: String {
        func kind(_ map: Bool) -> String { map ? "map" : "set" }
        switch self {
        case .missingSet(let name): return "set \(name) is missing"
        case .extraSet(let name): return "set \(name) is not part of the plan"
        case let .declaration(name, held, planned): return "set \(name) is declared \(held), the plan \(planned)"
        case let .lacks(name, map, element): return "\(kind(map)) \(name) lacks \(element)"
        case let .lacksMore(name, map, n): return "\(kind(map)) \(name) lacks \(n) more elements of the plan"
        case let .holds(name, map, element): return "\(kind(map)) \(name) holds \(element), which is not in the plan"
        case let .holdsMore(name, map, n): return "\(kind(map)) \(name) holds \(n) more elements that are not in the plan"
        case .missingChain(let name): return "chain \(name) is missing"
        case .extraChain(let name): return "chain \(name) is not part of the plan"
        case let .missingRule(name, role): return "chain \(name) lacks its rule \(role)"
        case let .extraRule(name, role?): return "chain \(name) holds a rule \(role) that is not in the plan"
        case let .extraRule(name, nil): return "chain \(name) holds a rule that is not ours"
        case let .replacedRule(name, role, by?) where by == role: return "chain \(name): its rule \(role) is not the plan's"
        case let .replacedRule(name, role, by?): return "chain \(name): its rule \(role) was replaced by a rule \(by) that is not in the plan"
        case let .replacedRule(name, role, nil): return "chain \(name): its rule \(role) was replaced by a rule that is not ours"
        case .ruleOrder(let name): return "chain \(name) holds rules of the plan in another order"
        case let .alteredRule(name, role): return "chain \(name): its rule \(role) was changed in place, its comment kept"
        case let .hook(name, held, planned):
            return "chain \(name) is \(held.map { "hooked \($0)" } ?? "a regular chain"), "
                + "the plan \(planned.map { "hooked \($0)" } ?? "a regular chain")"
        }
    }
}
