/// nft's text for commands and queries: what `LibNftables` hands libnftables (and, for the
/// swap, what `export` prints through `NftRenderer.render`); nothing reads it back. Each
/// command is its own line (a filled table its own block), so a transaction is their
/// concatenation, in order.
extension NftTransaction {
    public var script: String { commands.map(\.text).joined() }
}

extension NftCommand {
    public var text: String {
        switch self {
        case .addTable(let id, nil): return "table \(id)\n"
        case .addTable(let id, let table?): return NftRenderer.filling(NftRenderer.body(table, id: id))
        case .addChain(let id, let chain):
            let head = "add chain \(id) \(chain.name)" + (chain.hook.map { " { \($0.statement) }" } ?? "") + "\n"
            return head + chain.rules.map { NftCommand.addRule(id, chain: chain.name, $0).text }.joined()
        case .addSet(let id, let set):
            var head = "add \(set.isMap ? "map" : "set") \(id) \(set.name) { type \(set.type);"
            if set.interval { head += " flags interval;" }
            if set.counter { head += " counter;" }
            head += " }\n"
            return head + (set.elements.isEmpty ? "" : NftCommand.addElements(id, set: set.name, set.elements).text)
        case .addElements(let id, let set, let elements):
            return "add element \(id) \(set) { \(elements.map(Self.element).joined(separator: ", ")) }\n"
        case .addRule(let id, let chain, let rule, let after):
            return "add rule \(id) \(chain) \(after.map { "position \($0) " } ?? "")\(Self.rule(rule))\n"
        case .insertRule(let id, let chain, let rule, let before):
            return "insert rule \(id) \(chain) \(before.map { "position \($0) " } ?? "")\(Self.rule(rule))\n"
        case .delete(let object): return "delete \(object.text)\n"
        case .destroy(let object): return "destroy \(object.text)\n"
        case .comment(let text): return text
        }
    }

    /// `ct mark & 0x10000000 == 0x10000000 counter accept comment "libvirt-portfwd mark 0x10000000"`
    static func rule(_ rule: NftRule) -> String { rule.text + (rule.comment.map { " comment \"\($0)\"" } ?? "") }

    /// `192.168.122.10 . tcp . 80 counter packets 1 bytes 60 comment "..."`, as the table's block writes it.
    static func element(_ element: NftElement) -> String {
        var out = element.description
        if let n = element.counter { out += " counter packets \(n.packets) bytes \(n.bytes)" }
        if let comment = element.comment { out += " comment \"\(comment)\"" }
        return out
    }
}

extension NftObject {
    /// What follows `delete` or `destroy`: a map's elements by their keys alone.
    var text: String {
        switch self {
        case .table(let id): return "table \(id)"
        case .chain(let id, let name): return "chain \(id) \(name)"
        case .set(let id, let name): return "set \(id) \(name)"
        case .elements(let id, let set, let elements):
            return "element \(id) \(set) { \(elements.map { NftElement($0.key).description }.joined(separator: ", ")) }"
        case .rule(let id, let chain, let handle): return "rule \(id) \(chain) handle \(handle)"
        }
    }
}

extension NftQuery {
    public var text: String {
        switch self {
        case .table(let id): return "list table \(id)"
        case .chain(let id, let name): return "list chain \(id) \(name)"
        case .set(let id, let name): return "list set \(id) \(name)"
        case .chains: return "list chains"
        case .rules: return "list ruleset"
        }
    }
}
