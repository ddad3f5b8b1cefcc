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
    case rules(String, held: Int, planned: Int)
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
        case let .rules(name, held, planned): return "chain \(name) has \(held) rule\(held == 1 ? "" : "s"), the plan \(planned)"
        case let .hook(name, held, planned):
            return "chain \(name) is \(held.map { "hooked \($0)" } ?? "a regular chain"), the plan \(planned.map { "hooked \($0)" } ?? "a regular chain")"
        }
    }
}
