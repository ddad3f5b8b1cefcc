/// Reading counters back is reading the count sets the plan laid out (`CountSet`): a
/// rendering notion, kept here so the table's model knows nothing of forwards.
extension NftTable {
    /// The counters of every count set, by forward: each side from its own set.
    public var counters: Counters {
        var result: Counters = [:]
        for set in sets {
            for (key, counted) in set.counters {
                var merged = result[key] ?? ForwardCounters(owner: nil, dnat: .zero, delivered: nil)
                if let delivered = counted.delivered {
                    merged.delivered = delivered
                } else {
                    merged.dnat = counted.dnat
                    merged.owner = counted.owner
                }
                result[key] = merged
            }
        }
        return result
    }
}

extension NftSet {
    /// What a count set's elements carry, by forward: `dnat` (with the owner) from a DNAT
    /// count set, `delivered` (and nothing else) from a delivery count set; empty for any
    /// other set.
    public var counters: Counters {
        guard let place = CountSet(name: name) else { return [:] }
        var result: Counters = [:]
        for element in elements {
            guard let counts = element.counter, let key = ForwardKey(family: place.family, kind: place.kind, element.key) else { continue }
            switch place.side {
            case .dnat: result[key] = ForwardCounters(owner: element.comment, dnat: counts, delivered: nil)
            case .delivered: result[key] = ForwardCounters(owner: nil, dnat: .zero, delivered: counts)
            }
        }
        return result
    }
}
