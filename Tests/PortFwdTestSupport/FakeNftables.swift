import Foundation
import PortFwd
import PortFwdCore
import PortFwdSystem

/// An in-memory nftables, after knftables' fake.go: it keeps a ruleset of typed objects that
/// tests can dump and assert on, and applies the typed commands this tool commits to them (our
/// table's swap, element and rule operations, libvirt's `libvirt_network` chains), with no
/// text in between. It answers the listings it is asked (ours, libvirt's, iptables-nft's
/// presence, firewalld's strict chain) with libnftables' JSON, written from the objects. A
/// transaction is all or nothing: any error leaves the state as it was.
public final class FakeNftables: NftablesRunner, @unchecked Sendable {
    /// A rule of libvirt's tables: its statement and comment, and the handle the kernel gave it.
    public struct Rule: Equatable {
        public var handle: Int
        public var text: String
        public var comment: String?

        public init(handle: Int, text: String, comment: String? = nil) {
            self.handle = handle
            self.text = text
            self.comment = comment
        }
    }

    /// What was asked of the fake, in order.
    public enum Call {
        case commit(NftTransaction, dryRun: Bool)
        case list(NftQuery)
        /// Whether a table, or one of its chains, exists.
        case exists(NftTableID, chain: String?)
        /// One set's elements, as the kernel's netlink dump gives them.
        case elements(NftTableID, set: String)
    }

    private let lock = NSLock()
    /// Our table, as installed.
    public private(set) var table: NftTable?
    /// libvirt >= 10.4's tables: family -> chain -> rules.
    public var libvirt: [Family: [String: [Rule]]] = [:]
    public var strictFirewalld = false
    let supportsDestroy: Bool
    /// iptables-nft's tables live in nftables too: this fake answers `list chain ip filter FORWARD`.
    public weak var iptables: FakeIptables?
    private var nextHandle = 100
    public private(set) var calls: [Call] = []
    /// Fails the n-th (0-based) transaction that would change something.
    public var failMutation: Int?
    private var mutations = 0
    /// How many transactions changed something so far: `failMutation = mutationCount` fails the next.
    public var mutationCount: Int { lock.withLock { mutations } }

    public init(destroy: Bool = false) { supportsDestroy = destroy }

    public var hasDestroy: Bool { supportsDestroy }
    /// What an upgrade of nftables or the kernel changes (`NftablesRunner.generation`).
    nonisolated(unsafe) public var generation = "fake 1"

    /// `transaction` committed to an empty fake, and our table as it lists it, read the way the
    /// kernel's listing is.
    public static func readBack(_ transaction: NftTransaction) throws -> NftTable {
        let fake = FakeNftables()
        try fake.commit(transaction)
        return try NftJSON.table(try fake.list(.table(.ours)))
    }

    /// Every transaction committed (dry runs too), in order.
    public var commits: [NftTransaction] { lock.withLock { calls.compactMap { if case .commit(let t, _) = $0 { t } else { nil } } } }
    /// Every listing asked, in order.
    public var queries: [NftQuery] { lock.withLock { calls.compactMap { if case .list(let q) = $0 { q } else { nil } } } }

    /// libvirt 10.4+'s table for a NAT network on virbr0, as its nftables backend writes it.
    public func addLibvirtTables(families: [Family] = [.ipv4]) {
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
        return Rule(handle: nextHandle, text: text)
    }

    public func commit(_ transaction: NftTransaction, dryRun: Bool) throws(PortFwdError) {
        lock.lock()
        defer { lock.unlock() }
        calls.append(.commit(transaction, dryRun: dryRun))
        var state = State(table: table, libvirt: libvirt, nextHandle: nextHandle, destroy: supportsDestroy)
        for command in transaction.commands { try state.apply(command) }
        if dryRun { return }
        if let n = failMutation, mutations == n {
            mutations += 1
            throw PortFwdError(.refused, "Error: injected failure of change \(n)")
        }
        mutations += 1
        table = state.table
        libvirt = state.libvirt
        nextHandle = state.nextHandle
    }

    public func list(_ query: NftQuery) throws(PortFwdError) -> String {
        lock.lock()
        defer { lock.unlock() }
        calls.append(.list(query))
        return try answer(query)
    }

    /// Answered from the same objects as the listing of that table or chain.
    public func exists(_ table: NftTableID, chain: String?) throws(PortFwdError) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        calls.append(.exists(table, chain: chain))
        if table == .ours { return chain.map { self.table?.chain($0) != nil } ?? (self.table != nil) }
        do { _ = try answer(chain.map { .chain(table, $0) } ?? .table(table)) } catch {
            if error.code == .notFound { return false }
            throw error
        }
        return true
    }

    /// What the kernel keeps of our set's elements: keys, counters (zero where a counting set
    /// was given none) and comments; never the guest named in the `#` line above them.
    public func elements(of id: NftTableID, set name: String, key: [NftField]) throws(PortFwdError) -> [NftElement] {
        lock.lock()
        defer { lock.unlock() }
        calls.append(.elements(id, set: name))
        guard id == .ours, let set = table?.set(name) else { throw PortFwdError(.notFound, "set \(name) of table \(id): no such set") }
        return set.elements.map { e in
            NftElement(e.key, data: e.data, counter: set.counter ? e.counter ?? Counts(packets: 0, bytes: 0) : nil, comment: e.comment)
        }
    }

    private static func family(_ word: String) -> Family? { word == "ip" ? .ipv4 : word == "ip6" ? .ipv6 : nil }

    private static func family(_ id: NftTableID) -> Family? {
        guard id.name == LibvirtForwardChain.table else { return nil }
        return id.family == "ip" ? .ipv4 : id.family == "ip6" ? .ipv6 : nil
    }

    private func answer(_ query: NftQuery) throws(PortFwdError) -> String {
        let notFound = PortFwdError(.notFound, "Error: No such file or directory")
        switch query {
        case .table(let id) where id == .ours:
            guard let table else { throw notFound }
            return Self.json(Self.items(table))
        case .table(let id):
            guard let family = Self.family(id), let chains = libvirt[family] else { throw notFound }
            return Self.json(Self.libvirtChains(family, chains, rules: true))
        case .chains:
            // Base chains only matter to the listing's readers: ours and libvirt's.
            var items = Self.items(table ?? NftTable()).filter { $0["chain"] != nil }
            for family in libvirt.keys.sorted() { items += Self.libvirtChains(family, libvirt[family]!, rules: false) }
            return Self.json(items)
        case .rules:
            // Terse: chains and rules, no sets, as libnftables lists them.
            var items = Self.items(table ?? NftTable()).filter { $0["set"] == nil && $0["map"] == nil }
            for family in libvirt.keys.sorted() { items += Self.libvirtChains(family, libvirt[family]!, rules: true) }
            return Self.json(items)
        case .chain(let id, "FORWARD") where id.name == "filter":
            let family: Family? = id.family == "ip" ? .ipv4 : id.family == "ip6" ? .ipv6 : nil
            guard let family, iptables?.hasTable(.nft, family, "filter") == true else { throw notFound }
            return Self.json([])
        case .chain(let id, let chain) where Self.family(id) != nil:
            guard let family = Self.family(id), let rules = libvirt[family]?[chain] else { throw notFound }
            return Self.json(rules.map { Self.libvirtRule($0, family: family, chain: chain) })
        case .chain(NftTableID("inet", "firewalld"), "filter_FORWARD_dnat"):
            guard strictFirewalld else { throw notFound }
            return Self.json([])
        case .set(let id, let name) where id == .ours:
            guard let set = table?.set(name) else { throw notFound }
            return Self.json([Self.item(set)])
        default:
            throw notFound
        }
    }

    /// Traffic: the element of count set `set` whose key nft writes as `key` counts one
    /// packet of `bytes` more.
    public func count(_ set: String, _ key: String, bytes: UInt64) {
        lock.withLock {
            guard let s = table?.sets.firstIndex(where: { $0.name == set }),
                  let e = table!.sets[s].elements.firstIndex(where: { NftElement($0.key).description == key }) else { return }
            let before = table!.sets[s].elements[e].counter ?? Counts(packets: 0, bytes: 0)
            table!.sets[s].elements[e].counter = before + Counts(packets: 1, bytes: bytes)
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
        var rule: [String: Any] = ["family": family.nft, "table": LibvirtForwardChain.table, "chain": chain, "handle": r.handle,
                                   "expr": expr]
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
                // The kernel's expression stands in as the statement itself: the same statement, the
                // same expression, and another statement under a copied comment shows (`RuleContents`).
                var json: [String: Any] = ["family": "inet", "table": "libvirt_portfwd", "chain": chain.name, "handle": handle,
                                           "expr": [["statement": rule.text]]]
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
            case .network(let n): return n.prefix == n.address.bitWidth ? n.address.description : ["prefix": ["addr": n.address.description,
                "len": n.prefix]]
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
    public func elements(_ set: String) -> [String] { lock.withLock { table?.set(set)?.elements.map(\.description).sorted() ?? [] } }

    private static func json(_ items: [[String: Any]]) -> String {
        String(decoding: try! JSONSerialization.data(withJSONObject: ["nftables": items], options: [.sortedKeys]), as: UTF8.self)
    }

    /// Everything, as text: what tests compare before and after.
    public var dump: String {
        lock.withLock {
            var text = "table inet libvirt_portfwd: " + (table.map { NftRenderer().render($0) } ?? "absent") + "\n"
            for family in libvirt.keys.sorted() {
                for chain in libvirt[family]!.keys.sorted() {
                    text += "\(family.nft) libvirt_network \(chain): " + libvirt[family]![chain]!.map(\.statement).joined(separator: " | ") + "\n"
                }
            }
            return text
        }
    }

    /// The statements of one libvirt chain's rules, without their comments.
    public func rules(_ family: Family, _ chain: String) -> [String] { lock.withLock { libvirt[family]?[chain]?.map(\.text) ?? [] } }
}
