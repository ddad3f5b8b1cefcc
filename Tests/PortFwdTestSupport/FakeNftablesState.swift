import PortFwd
import PortFwdCore
import PortFwdSystem

extension FakeNftables.Rule {
    /// As nft writes it, comment included: for dumps.
    public var statement: String { text + (comment.map { " comment \"\($0)\"" } ?? "") }
}

extension FakeNftables {
    /// The ruleset a transaction works on: a copy, kept only when every command applied.
    public struct State {
        public var table: NftTable?
        public var libvirt: [Family: [String: [Rule]]]
        var nextHandle: Int
        public let destroy: Bool

        private static let notFound = PortFwdError(.notFound, "Error: Could not process rule: No such file or directory")

        public mutating func apply(_ command: NftCommand) throws(PortFwdError) {
            switch command {
            case .comment: return
            case .addTable(let id, let filled):
                if id == .ours {
                    var merged = table ?? NftTable()
                    // As the kernel gets it: the placeholder filled in by the text.
                    if let filled { merged.merge(NftRenderer.filled(filled)) }
                    table = merged
                } else if let family = Self.family(id), filled == nil {
                    libvirt[family] = libvirt[family] ?? [:]
                } else {
                    throw PortFwdError(.refused, "Error: the fake holds no table \(id)")
                }
            case .addChain(let id, let chain):
                guard id == .ours, table != nil else { throw Self.notFound }
                table!.merge(NftTable(chains: [chain]))
            case .addSet(let id, let set):
                guard id == .ours, table != nil else { throw Self.notFound }
                table!.merge(NftTable(sets: [set]))
            case .addElements(let id, let name, let elements):
                guard id == .ours, table != nil, table!.set(name) != nil else { throw Self.notFound }
                table!.merge(NftTable(sets: [NftSet(name: name, key: [], elements: elements)]))
            case .addRule(let id, let chain, let rule, let after):
                try add(id, chain, rule, next: true, to: after)
            case .insertRule(let id, let chain, let rule, let before):
                try add(id, chain, rule, next: false, to: before)
            case .delete(let object):
                try delete(object)
            case .destroy(let object):
                guard destroy else { throw PortFwdError(.refused, "Error: syntax error, unexpected destroy") }
                do { try delete(object) } catch { if error.code != .notFound { throw error } }
            }
        }

        private static func family(_ id: NftTableID) -> Family? {
            guard id.name == LibvirtForwardChain.table else { return nil }
            return id.family == "ip" ? .ipv4 : id.family == "ip6" ? .ipv6 : nil
        }

        /// A rule at the end or top of `chain`, or after or before the rule with handle `anchor`.
        private mutating func add(_ id: NftTableID, _ chain: String, _ rule: NftRule, next: Bool, to anchor: Int?) throws(PortFwdError) {
            if id == .ours {
                guard let c = table?.chains.firstIndex(where: { $0.name == chain }) else { throw Self.notFound }
                var index = next ? table!.chains[c].rules.count : 0
                if let anchor {
                    guard let at = ourRule(anchor), at.chain == c else { throw Self.notFound }
                    index = next ? at.index + 1 : at.index
                }
                table!.chains[c].rules.insert(rule, at: index)
                return
            }
            guard let family = Self.family(id), var rules = libvirt[family]?[chain] else { throw Self.notFound }
            var index = next ? rules.count : 0
            if let anchor {
                guard let at = rules.firstIndex(where: { $0.handle == anchor }) else { throw Self.notFound }
                index = next ? at + 1 : at
            }
            nextHandle += 1
            rules.insert(Rule(handle: nextHandle, text: rule.text, comment: rule.comment), at: index)
            libvirt[family]![chain] = rules
        }

        /// Our rules' handles are their places, counted from 1 across chains, as the fake lists them.
        private func ourRule(_ handle: Int) -> (chain: Int, index: Int)? {
            var n = 0
            for (c, chain) in (table?.chains ?? []).enumerated() {
                if handle <= n + chain.rules.count, handle > n { return (c, handle - n - 1) }
                n += chain.rules.count
            }
            return nil
        }

        private mutating func delete(_ object: NftObject) throws(PortFwdError) {
            switch object {
            case .table(let id):
                if id == .ours {
                    guard table != nil else { throw Self.notFound }
                    table = nil
                } else {
                    guard let family = Self.family(id), libvirt[family] != nil else { throw Self.notFound }
                    libvirt[family] = nil
                }
            case .chain(let id, let name):
                guard id == .ours, let c = table?.chains.firstIndex(where: { $0.name == name }) else { throw Self.notFound }
                table!.chains.remove(at: c)
            case .set(let id, let name):
                guard id == .ours, let s = table?.sets.firstIndex(where: { $0.name == name }) else { throw Self.notFound }
                table!.sets.remove(at: s)
            case .elements(let id, let name, let elements):
                guard id == .ours, let s = table?.sets.firstIndex(where: { $0.name == name }) else { throw Self.notFound }
                // As nft does: deleting an element that is not there fails. A map's by its key.
                for element in elements {
                    guard let e = table!.sets[s].elements.firstIndex(where: { $0.key == element.key }) else { throw Self.notFound }
                    table!.sets[s].elements.remove(at: e)
                }
            case .rule(let id, let chain, let handle):
                if id == .ours {
                    guard let at = ourRule(handle), table!.chains[at.chain].name == chain else { throw Self.notFound }
                    table!.chains[at.chain].rules.remove(at: at.index)
                    return
                }
                guard let family = Self.family(id), var rules = libvirt[family]?[chain],
                      let index = rules.firstIndex(where: { $0.handle == handle }) else { throw Self.notFound }
                rules.remove(at: index)
                libvirt[family]![chain] = rules
            }
        }
    }
}

extension NftTable {
    /// What `table inet libvirt_portfwd { ... }` does to a table that exists: sets and chains it
    /// lacks are added, elements a set lacks are added to it (counting from zero in a set with
    /// counters), rules are appended to their chain.
    public mutating func merge(_ other: NftTable) {
        for set in other.sets {
            guard let s = sets.firstIndex(where: { $0.name == set.name }) else { sets.append(set); continue }
            for element in set.elements where !sets[s].elements.contains(element) {
                var added = element
                if sets[s].counter, added.counter == nil { added.counter = Counts(packets: 0, bytes: 0) }
                sets[s].elements.append(added)
            }
        }
        for chain in other.chains {
            guard let c = chains.firstIndex(where: { $0.name == chain.name }) else { chains.append(chain); continue }
            chains[c].rules += chain.rules
        }
    }
}
