import Foundation
@testable import PortFwd
import PortFwdCore
import PortFwdSystem

/// An in-memory nftables, after knftables' fake.go: it keeps a ruleset of typed objects that
/// tests can dump and assert on, for the commands this tool sends (our table's swap, listings
/// and element operations, libvirt's `libvirt_network` chains, iptables-nft's presence,
/// firewalld's strict chain). Listings come back as libnftables' JSON, written from the
/// objects. A script runs as one transaction: any error leaves the state as it was.
final class FakeNftables: NftablesRunner, @unchecked Sendable {
    struct Rule: Equatable {
        var handle: Int
        var text: String
        var comment: String?
    }

    private let lock = NSLock()
    /// Our table, as installed.
    private(set) var table: NftTable?
    /// libvirt >= 10.4's tables: family -> chain -> rules.
    var libvirt: [Family: [String: [Rule]]] = [:]
    var strictFirewalld = false
    let supportsDestroy: Bool
    /// iptables-nft's tables live in nftables too: this fake answers `list chain ip filter FORWARD`.
    weak var iptables: FakeIptables?
    private var nextHandle = 100
    private(set) var scripts: [String] = []
    /// Fails the n-th (0-based) script that would change something.
    var failMutation: Int?
    private var mutations = 0
    /// How many scripts changed something so far: `failMutation = mutationCount` fails the next.
    var mutationCount: Int { lock.withLock { mutations } }

    init(destroy: Bool = false) { supportsDestroy = destroy }

    var hasDestroy: Bool { supportsDestroy }

    /// libvirt 10.4+'s table for a NAT network on virbr0, as its nftables backend writes it.
    func addLibvirtTables(families: [Family] = [.ipv4]) {
        for family in families {
            let net = family == .ipv4 ? "192.168.122.0/24" : "fd00:122::/64"
            libvirt[family] = [
                "forward": ["counter jump guest_cross", "counter jump guest_input", "counter jump guest_output"].map(rule),
                "guest_input": ["oif \"virbr0\" \(family.nft) daddr \(net) ct state established,related counter accept",
                                "oif \"virbr0\" counter reject"].map(rule),
                "guest_output": ["iif \"virbr0\" \(family.nft) saddr \(net) counter accept", "iif \"virbr0\" counter reject"].map(rule),
                "guest_cross": [rule("iif \"virbr0\" oif \"virbr0\" counter accept")],
            ]
        }
    }

    private func rule(_ text: String) -> Rule {
        nextHandle += 1
        let comment = text.range(of: "comment \"").map { String(text[$0.upperBound...].dropLast()) }
        return Rule(handle: nextHandle, text: text, comment: comment)
    }

    func run(_ script: String, json: Bool, dryRun: Bool) throws(PortFwdError) -> String {
        lock.lock()
        defer { lock.unlock() }
        do {
            scripts.append(script)
            let lines = script.split(separator: "\n").map { String($0).trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty && !$0.hasPrefix("#") }
            if let first = lines.first, lines.count == 1, first.hasPrefix("list ") { return try list(first, json: json) }
            var table = self.table, libvirt = self.libvirt, handle = nextHandle
            var i = 0
            while i < lines.count {
                let line = lines[i]
                let words = line.split(separator: " ").map(String.init)
                if line == "table inet libvirt_portfwd" {
                    // declared: exists, possibly empty
                    if table == nil { table = NftTable() }
                } else if line == "delete table inet libvirt_portfwd" {
                    guard table != nil else { throw PortFwdError(.notFound, "Error: Could not process rule: No such file or directory") }
                    table = nil
                } else if line == "delete table \(TraceTable.table)" {
                    // `trace` runs against the kernel only: there is never one here.
                    throw PortFwdError(.notFound, "Error: Could not process rule: No such file or directory")
                } else if line == "destroy table inet libvirt_portfwd" {
                    guard supportsDestroy else { throw PortFwdError(.refused, "Error: syntax error, unexpected table") }
                    table = nil
                } else if line == "table inet libvirt_portfwd {" {
                    var block = [line]
                    var depth = 1
                    while depth > 0 {
                        i += 1
                        guard i < lines.count else { throw PortFwdError(.refused, "Error: syntax error, unexpected end of file") }
                        if lines[i].hasSuffix("{") { depth += 1 } else if lines[i] == "}" { depth -= 1 }
                        block.append(lines[i])
                    }
                    do { table = try NftScript.table(block.joined(separator: "\n")) } catch {
                        throw PortFwdError(.refused, "Error: \(error)")
                    }
                } else if (words.first == "add" || words.first == "delete") && words.count > 5 && words[1] == "element"
                            && words[2] == "inet" && words[3] == "libvirt_portfwd" {
                    try edit(&table, add: words.first == "add", set: words[4], line)
                } else if words.starts(with: ["delete", "rule"]), words.count == 7, words[3] == LibvirtForwardChain.table, let family = Self.family(words[2]) {
                    guard let h = Int(words[6]), var rules = libvirt[family]?[words[4]], let index = rules.firstIndex(where: { $0.handle == h }) else {
                        throw PortFwdError(.notFound, "Error: Could not process rule: No such file or directory")
                    }
                    rules.remove(at: index)
                    libvirt[family]![words[4]] = rules
                } else if (words.first == "insert" || words.first == "add"), words.count > 5, words[1] == "rule", words[3] == LibvirtForwardChain.table,
                          let family = Self.family(words[2]) {
                    guard var rules = libvirt[family]?[words[4]] else { throw PortFwdError(.notFound, "Error: Could not process rule: No such file or directory") }
                    var rest = Array(words[5...])
                    var index = words.first == "insert" ? 0 : rules.count
                    if rest.first == "position", rest.count > 1, let h = Int(rest[1]) {
                        guard let at = rules.firstIndex(where: { $0.handle == h }) else { throw PortFwdError(.notFound, "Error: Could not process rule: No such file or directory") }
                        index = words.first == "insert" ? at : at + 1
                        rest.removeFirst(2)
                    }
                    handle += 1
                    let text = rest.joined(separator: " ")
                    let comment = text.range(of: "comment \"").map { String(text[$0.upperBound...].dropLast()) }
                    rules.insert(Rule(handle: handle, text: text, comment: comment), at: index)
                    libvirt[family]![words[4]] = rules
                } else if line.hasPrefix("add rule inet libvirt_portfwd") {
                    // A statement the kernel refuses at commit: tests append it to fail a transaction.
                    throw PortFwdError(.refused, "Error: Could not process rule: Operation not supported")
                } else {
                    throw PortFwdError(.refused, "Error: the fake does not understand: \(line)")
                }
                i += 1
            }
            if dryRun { return "" }
            if let n = failMutation, mutations == n {
                mutations += 1
                throw PortFwdError(.refused, "Error: injected failure of change \(n)")
            }
            mutations += 1
            self.table = table
            self.libvirt = libvirt
            nextHandle = handle
            return ""
        }
    }

    private static func family(_ word: String) -> Family? { word == "ip" ? .ipv4 : word == "ip6" ? .ipv6 : nil }

    private func list(_ line: String, json: Bool) throws(PortFwdError) -> String {
        let words = line.split(separator: " ").map(String.init)
        let notFound = PortFwdError(.notFound, "Error: No such file or directory")
        switch (words[1], words.count) {
        case ("table", 4) where words[3] == "libvirt_portfwd":
            guard let table else { throw notFound }
            return Self.json(Self.items(table))
        case ("table", 4) where words[3] == LibvirtForwardChain.table:
            guard let family = Self.family(words[2]), let chains = libvirt[family] else { throw notFound }
            return Self.json(Self.libvirtChains(family, chains, rules: true))
        case ("table", _):
            throw notFound
        case ("chains", 2):
            // Base chains only matter to the listing's readers: ours and libvirt's.
            var items = Self.items(table ?? NftTable()).filter { $0["chain"] != nil }
            for family in libvirt.keys.sorted() { items += Self.libvirtChains(family, libvirt[family]!, rules: false) }
            return Self.json(items)
        case ("chain", 5) where words[3] == "filter" && words[4] == "FORWARD":
            guard let family = Self.family(words[2]), iptables?.hasTable(.nft, family, "filter") == true else { throw notFound }
            return ""
        case ("chain", 5) where words[3] == LibvirtForwardChain.table:
            guard let family = Self.family(words[2]), let rules = libvirt[family]?[words[4]] else { throw notFound }
            return Self.json(rules.map { Self.libvirtRule($0, family: family, chain: words[4]) })
        case ("chain", 5) where words[2] == "inet" && words[3] == "firewalld" && words[4] == "filter_FORWARD_dnat":
            guard strictFirewalld else { throw notFound }
            return ""
        case ("set", 5) where words[3] == "libvirt_portfwd":
            guard let set = table?.set(words[4]) else { throw notFound }
            return Self.json([Self.item(set)])
        default:
            throw notFound
        }
    }

    /// Traffic: the element `element` of count set `set` counts one packet of `bytes` more.
    func count(_ set: String, _ element: String, bytes: UInt64) {
        lock.withLock {
            guard let s = table?.sets.firstIndex(where: { $0.name == set }), let wanted = try? NftScript.element(element, in: table!.sets[s]),
                  let e = table!.sets[s].elements.firstIndex(of: wanted) else { return }
            let before = table!.sets[s].elements[e].counter ?? Counts(packets: 0, bytes: 0)
            table!.sets[s].elements[e].counter = before + Counts(packets: 1, bytes: bytes)
        }
    }

    /// `add element inet libvirt_portfwd SET { a, b }` and `delete element ...`, as nft does
    /// them: adding an element that is there already is no change, deleting one that is not
    /// there fails.
    private func edit(_ table: inout NftTable?, add: Bool, set name: String, _ line: String) throws(PortFwdError) {
        let notFound = PortFwdError(.notFound, "Error: Could not process rule: No such file or directory")
        guard let open = line.firstIndex(of: "{"), line.hasSuffix("}"), let s = table?.sets.firstIndex(where: { $0.name == name }) else { throw notFound }
        let list = line[line.index(after: open)..<line.index(before: line.endIndex)]
        for text in list.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !text.isEmpty {
            let element: NftElement
            // A map's element is deleted by its key alone.
            var set = table!.sets[s]
            if !add { set.data = [] }
            do { element = try NftScript.element(text, in: set) } catch { throw PortFwdError(.refused, "Error: \(error)") }
            let index = table!.sets[s].elements.firstIndex { add ? $0 == element : $0.key == element.key }
            if add {
                if index == nil { table!.sets[s].elements.append(table!.sets[s].counter ? NftElement(element.key, data: element.data, counter: Counts(packets: 0, bytes: 0), comment: element.comment) : element) }
            } else {
                guard let index else { throw notFound }
                table!.sets[s].elements.remove(at: index)
            }
        }
    }

    /// libvirt's table as libnftables lists it: `forward` a base chain on the forward hook.
    private static func libvirtChains(_ family: Family, _ chains: [String: [Rule]], rules: Bool) -> [[String: Any]] {
        var items: [[String: Any]] = []
        for name in chains.keys.sorted() {
            var chain: [String: Any] = ["family": family.nft, "table": LibvirtForwardChain.table, "name": name]
            if name == "forward" { chain.merge(["type": "filter", "hook": "forward", "prio": 0, "policy": "accept"]) { a, _ in a } }
            items.append(["chain": chain])
            if rules { items += chains[name]!.map { libvirtRule($0, family: family, chain: name) } }
        }
        return items
    }

    /// A rule of libvirt's table with its statements as libnftables' JSON writes them, for the
    /// words libvirt's rules use.
    private static func libvirtRule(_ r: Rule, family: Family, chain: String) -> [String: Any] {
        var expr: [Any] = []
        var words = r.text.split(separator: " ").map(String.init)
        func match(_ left: Any, _ right: Any, op: String = "==") { expr.append(["match": ["op": op, "left": left, "right": right]]) }
        while !words.isEmpty {
            let word = words.removeFirst()
            switch word {
            case "counter": expr.append(["counter": ["packets": 0, "bytes": 0]])
            case "accept", "drop", "return": expr.append([word: NSNull()])
            case "reject": expr.append(["reject": NSNull()])
            case "jump", "goto": expr.append([word: ["target": words.removeFirst()]])
            case "iif", "oif": match(["meta": ["key": word]], words.removeFirst().replacingOccurrences(of: "\"", with: ""))
            case "ip", "ip6":
                let field = words.removeFirst(), value = words.removeFirst()
                let parts = value.split(separator: "/")
                let right: Any = parts.count == 2 ? ["prefix": ["addr": String(parts[0]), "len": Int(parts[1])!]] : value
                match(["payload": ["protocol": word, "field": field]], right)
            case "ct":
                let key = words.removeFirst()
                if key == "mark" {
                    // ct mark & M == M
                    _ = words.removeFirst()
                    let mask = UInt32(words.removeFirst().dropFirst(2), radix: 16)!
                    _ = words.removeFirst()
                    let value = UInt32(words.removeFirst().dropFirst(2), radix: 16)!
                    match(["&": [["ct": ["key": "mark"]], mask]], value)
                } else {
                    match(["ct": ["key": key]], words.removeFirst().split(separator: ",").map(String.init))
                }
            case "comment": words.removeAll()
            default: break
            }
        }
        var rule: [String: Any] = ["family": family.nft, "table": LibvirtForwardChain.table, "chain": chain, "handle": r.handle, "expr": expr]
        if let c = r.comment { rule["comment"] = c }
        return ["rule": rule]
    }

    /// Our table as libnftables lists it in JSON.
    private static func items(_ table: NftTable) -> [[String: Any]] {
        var items = table.sets.map(item)
        var handle = 0
        for chain in table.chains {
            var json: [String: Any] = ["family": "inet", "table": "libvirt_portfwd", "name": chain.name]
            if let hook = chain.hook {
                json["type"] = hook.type
                json["hook"] = hook.hook
                json["prio"] = hook.priority
                json["policy"] = hook.policy
            }
            items.append(["chain": json])
            for rule in chain.rules {
                handle += 1
                var json: [String: Any] = ["family": "inet", "table": "libvirt_portfwd", "chain": chain.name, "handle": handle, "expr": []]
                if let comment = rule.comment { json["comment"] = comment }
                items.append(["rule": json])
            }
        }
        return items
    }

    /// One set or map as nft 1.0.6 lists it: the key type an array (a string for one field),
    /// map data as one string, a single host bare, a network as a prefix, a port range as a range.
    private static func item(_ set: NftSet) -> [String: Any] {
        func type(_ fields: [NftField]) -> Any { fields.count == 1 ? fields[0].description : fields.map(\.description) }
        func value(_ v: NftValue) -> Any {
            switch v {
            case .address(let a): return a.description
            case .network(let n): return n.prefix == n.address.bitWidth ? n.address.description : ["prefix": ["addr": n.address.description, "len": n.prefix]]
            case .proto(let p): return p.rawValue
            case .ports(let r): return r.lower == r.upper ? Int(r.lower) as Any : ["range": [Int(r.lower), Int(r.upper)]]
            case .unreadable(let text): return text
            }
        }
        func values(_ vs: [NftValue]) -> Any { vs.count == 1 ? value(vs[0]) : ["concat": vs.map(value)] }
        var json: [String: Any] = ["family": "inet", "table": "libvirt_portfwd", "name": set.name, "type": type(set.key)]
        if set.isMap { json["map"] = set.data.map(\.description).joined(separator: " . ") }
        if set.interval { json["flags"] = ["interval"] }
        if set.counter { json["stmt"] = [["counter": NSNull()]] }
        if !set.elements.isEmpty {
            json["elem"] = set.elements.map { e -> Any in
                if set.isMap { return [values(e.key), values(e.data)] }
                guard set.counter else { return values(e.key) }
                let counts = e.counter ?? Counts(packets: 0, bytes: 0)
                var elem: [String: Any] = ["val": values(e.key), "counter": ["packets": counts.packets, "bytes": counts.bytes]]
                if let comment = e.comment { elem["comment"] = comment }
                return ["elem": elem]
            }
        }
        return [set.isMap ? "map" : "set": json]
    }

    /// The elements of one set, as nft writes them, sorted.
    func elements(_ set: String) -> [String] { lock.withLock { table?.set(set)?.elements.map(\.description).sorted() ?? [] } }

    private static func json(_ items: [[String: Any]]) -> String {
        String(decoding: try! JSONSerialization.data(withJSONObject: ["nftables": items], options: [.sortedKeys]), as: UTF8.self)
    }

    /// Everything, as text: what tests compare before and after.
    var dump: String {
        lock.withLock {
            var text = "table inet libvirt_portfwd: " + (table.map { NftRenderer().render($0) } ?? "absent") + "\n"
            for family in libvirt.keys.sorted() {
                for chain in libvirt[family]!.keys.sorted() {
                    text += "\(family.nft) libvirt_network \(chain): " + libvirt[family]![chain]!.map(\.text).joined(separator: " | ") + "\n"
                }
            }
            return text
        }
    }

    /// The rules of one libvirt chain, as text.
    func rules(_ family: Family, _ chain: String) -> [String] { lock.withLock { libvirt[family]?[chain]?.map(\.text) ?? [] } }
}
