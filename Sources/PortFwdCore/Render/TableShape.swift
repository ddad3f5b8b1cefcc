/// What a table of ours consists of, in a form both a rendered script and a kernel listing
/// can be reduced to: each set's elements (as the renderer writes them) and each chain's
/// number of rules. Comparing shapes is how drift is found without trusting either text.
public struct TableShape: Equatable, Sendable {
    public var sets: [String: [String]] = [:]
    public var chains: [String: Int] = [:]

    public init(sets: [String: [String]] = [:], chains: [String: Int] = [:]) {
        self.sets = sets.mapValues { $0.map(Self.normalised).sorted() }
        self.chains = chains
    }

    /// Reads the `table ... { }` block of a script `NftRenderer` wrote.
    public init(rendered text: String) {
        var sets: [String: [String]] = [:]
        var chains: [String: Int] = [:]
        var set: String?, chain: String?, inElements = false
        for raw in text.split(separator: "\n") {
            let line = raw.trimmed
            if line.isEmpty || line.hasPrefix("#") { continue }
            let words = line.split(separator: " ")
            if (words.first == "set" || words.first == "map") && line.hasSuffix("{") && words.count == 3 {
                set = String(words[1]); sets[set!] = []
            } else if words.first == "chain" && line.hasSuffix("{") && words.count == 3 {
                chain = String(words[1]); chains[chain!] = 0
            } else if set != nil && line.hasPrefix("elements = {") {
                inElements = true
            } else if line == "}" {
                if inElements { inElements = false } else { set = nil; chain = nil }
            } else if let name = set, inElements {
                var element = line.hasSuffix(",") ? line.dropLast() : line[...]
                // Counter values are state, not shape.
                if let counter = element.firstRange(of: Fingerprint.counterMark) { element = element[..<counter.lowerBound] }
                sets[name]!.append(String(element))
            } else if let name = chain, !line.hasPrefix("type ") {
                chains[name]! += 1
            }
        }
        self.init(sets: sets, chains: chains)
    }

    /// A single host is written `a.b.c.d/32` by us and `a.b.c.d` by nft; compare them alike.
    static func normalised(_ element: String) -> String {
        element.split(separator: " ", omittingEmptySubsequences: false).map { word in
            if word.hasSuffix("/32") && !word.contains(":") { return String(word.dropLast(3)) }
            if word.hasSuffix("/128") { return String(word.dropLast(4)) }
            return String(word)
        }.joined(separator: " ")
    }

    /// One line per difference, naming the set or chain.
    public func differences(from expected: TableShape) -> [String] {
        var lines: [String] = []
        for name in Set(expected.sets.keys).union(sets.keys).sorted() {
            let want = expected.sets[name], have = sets[name]
            guard let want else { lines.append("set \(name) is not part of the plan"); continue }
            guard let have else { lines.append("set \(name) is missing"); continue }
            if want != have {
                // Named element by element (a few of each), as knftables' diff would: what to look for.
                let kind = (want + have).contains { $0.contains(" : ") } ? "map" : "set"
                let missing = want.filter { !Set(have).contains($0) }, extra = have.filter { !Set(want).contains($0) }
                lines += missing.prefix(3).map { "\(kind) \(name) lacks \($0)" }
                if missing.count > 3 { lines.append("\(kind) \(name) lacks \(missing.count - 3) more elements of the plan") }
                lines += extra.prefix(3).map { "\(kind) \(name) holds \($0), which is not in the plan" }
                if extra.count > 3 { lines.append("\(kind) \(name) holds \(extra.count - 3) more elements that are not in the plan") }
            }
        }
        for name in Set(expected.chains.keys).union(chains.keys).sorted() where expected.chains[name] != chains[name] {
            if let want = expected.chains[name], let have = chains[name] {
                lines.append("chain \(name) has \(have) rule\(have == 1 ? "" : "s"), the plan \(want)")
            } else {
                lines.append(expected.chains[name] == nil ? "chain \(name) is not part of the plan" : "chain \(name) is missing")
            }
        }
        return lines
    }
}
