/// Reading counters back is reading the count sets the plan laid out (`CountSet`): a
/// rendering notion, kept here so the table's model knows nothing of forwards.
extension NftTable {
    /// The counters of every count set, by forward: each side from its own set. One pass,
    /// into one dictionary: a swap reads a count set's every element. A forward whose key a
    /// set holds twice (another program's element that reads like ours) has no counters:
    /// which of the two is ours cannot be told, and neither is carried.
    public var counters: Counters {
        var result: Counters = [:], twice: Set<ForwardKey> = []
        for set in sets {
            guard let place = CountSet(name: set.name) else { continue }
            var seen: Set<ForwardKey> = []
            for element in set.elements {
                guard let counts = element.counter,
                      let key = ForwardKey(family: place.family, kind: place.kind, element.key) else { continue }
                if !seen.insert(key).inserted { twice.insert(key) }
                let none = ForwardCounters(owner: nil, dnat: .zero, delivered: nil)
                switch place.side {
                case .dnat:
                    result[key, default: none].dnat = counts
                    result[key, default: none].owner = element.comment
                case .delivered:
                    result[key, default: none].delivered = counts
                }
            }
        }
        for key in twice { result[key] = nil }
        return result
    }
}
