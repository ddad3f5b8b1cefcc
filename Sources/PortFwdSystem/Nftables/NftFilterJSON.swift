import PortFwdCore
import PortFwdReaders

/// Another firewall's nftables table, read from libnftables' JSON into the `FilterTable` that
/// the packet-path analysis walks: matches it understands become conditions, anything else a
/// condition that may or may not hold. Only read, never written back.
public enum NftFilterJSON {
    /// A base chain on some hook, as `list chains` lists it.
    public struct BaseChain: Sendable, Hashable {
        public let family: String
        public let table: String
        public let name: String
        public let hook: String
        public let priority: Int
        public let policy: String
    }

    /// Every base chain in a `list chains` listing.
    public static func baseChains(_ text: String) throws(PortFwdError) -> [BaseChain] {
        try NftJSON.items(text).compactMap { item -> BaseChain? in
            guard let chain = item["chain"], let hook = chain["hook"]?.string, let family = chain["family"]?.string,
                  let table = chain["table"]?.string, let name = chain["name"]?.string else { return nil }
            return BaseChain(family: family, table: table, name: name, hook: hook, priority: chain["prio"]?.int ?? 0,
                             policy: chain["policy"]?.string ?? "accept")
        }
    }

    /// A `list table` listing: its chains and rules; the base chains on `hook` in priority order.
    public static func table(_ text: String, family: String, name: String, hook: String = "forward") throws(PortFwdError) -> FilterTable {
        var chains: [String: FilterChain] = [:]
        var hooked: [(String, Int)] = []
        var handles: [String: Int] = [:]
        for item in try NftJSON.items(text) {
            if let chain = item["chain"], let chainName = chain["name"]?.string {
                var policy: Verdict?
                if let h = chain["hook"]?.string {
                    policy = chain["policy"]?.string == "drop" ? .drop : .accept
                    if h == hook { hooked.append((chainName, chain["prio"]?.int ?? 0)) }
                }
                chains[chainName] = FilterChain(name: chainName, rules: chains[chainName]?.rules ?? [], policy: policy, priority: chain["prio"]?.int)
            } else if let rule = item["rule"], let chainName = rule["chain"]?.string {
                if chains[chainName] == nil { chains[chainName] = FilterChain(name: chainName, rules: []) }
                handles[chainName, default: 0] += 1
                let position = rule["handle"]?.int.map { "rule handle \($0)" } ?? "rule \(handles[chainName]!)"
                chains[chainName]!.rules += rules(rule["expr"]?.array ?? [], position: position, comment: rule["comment"]?.string,
                                                  handle: rule["handle"]?.int)
            }
        }
        let family: Family? = family == "ip" ? .ipv4 : family == "ip6" ? .ipv6 : nil
        return FilterTable(name: "table \(family.map { $0.nft } ?? "inet") \(name)", family: family, chains: chains,
                           baseChains: hooked.sorted { $0.1 < $1.1 }.map(\.0))
    }

    /// One rule's statements; a verdict map becomes one rule per key, each with the same
    /// conditions before it.
    static func rules(_ statements: [JSONValue], position: String, comment: String?, handle: Int? = nil) -> [FilterRule] {
        var conditions: [Condition] = []
        var words: [String] = []
        var verdict = Verdict.none
        var alternatives: [([Condition], Verdict, String)] = []
        for statement in statements {
            guard case .object(let object) = statement, let (key, value) = object.first else { continue }
            switch key {
            case "match":
                let (matched, text) = match(value)
                conditions += matched
                words.append(text)
            case "accept": verdict = .accept; words.append("accept")
            case "drop": verdict = .drop; words.append("drop")
            case "reject": verdict = .reject; words.append("reject")
            case "return": verdict = .return; words.append("return")
            case "continue": words.append("continue")
            case "jump": if let t = value["target"]?.string { verdict = .jump(t); words.append("jump \(t)") }
            case "goto": if let t = value["target"]?.string { verdict = .goto(t); words.append("goto \(t)") }
            case "queue": verdict = .other("queues to a program"); words.append("queue")
            case "vmap":
                // `iifname vmap { "eth0" : jump zone_a, ... }`: one alternative per element.
                let left = value["key"] ?? .null
                let elements = value["data"]?["set"]?.array ?? []
                for element in elements {
                    guard let pair = element.array, pair.count == 2 else { continue }
                    let (matched, text) = match(.object(["op": .string("=="), "left": left, "right": pair[0]]))
                    alternatives.append((matched, verdictValue(pair[1]), text))
                }
                if elements.isEmpty { verdict = .other("is a verdict map this tool does not read") }
                words.append("vmap")
            case "xt":
                let name = value["name"]?.string ?? "?"
                if value["type"]?.string == "target" {
                    verdict = IptablesRuleText.verdict(name, goto: false, chains: [])
                    words.append("xt target \(name)")
                } else {
                    conditions.append(Condition(.unknown("xt match \(name)")))
                    words.append("xt match \(name)")
                }
            case "counter", "log", "mangle", "notrack", "set", "ct helper", "ct timeout", "ct expectation":
                continue
            case "limit", "quota", "connlimit", "meter":
                conditions.append(Condition(.unknown(key)))
                words.append(key)
            default:
                conditions.append(Condition(.unknown(key)))
                words.append(key)
            }
        }
        let text = words.joined(separator: " ") + (comment.map { " comment \"\(LogText.line($0))\"" } ?? "")
        if !alternatives.isEmpty {
            return alternatives.map { matched, v, key in
                FilterRule(conditions: conditions + matched, verdict: v, position: position, text: "\(text) (\(key))", handle: handle)
            }
        }
        return [FilterRule(conditions: conditions, verdict: verdict, position: position, text: text, handle: handle)]
    }

    static func verdictValue(_ json: JSONValue) -> Verdict {
        guard case .object(let object) = json, let (key, value) = object.first else { return .other("is a verdict this tool does not read") }
        switch key {
        case "accept": return .accept
        case "drop": return .drop
        case "return": return .return
        case "continue": return .none
        case "jump": return value["target"]?.string.map(Verdict.jump) ?? .other("jumps")
        case "goto": return value["target"]?.string.map(Verdict.goto) ?? .other("goes to another chain")
        default: return .other("is \(key)")
        }
    }

    /// `{"op": "==", "left": {"meta": {"key": "iifname"}}, "right": "virbr0"}`, and its text.
    /// A header field brings the match nft left implicit in the listing: `tcp dport 80` holds
    /// only for TCP, `ip saddr` only for IPv4, whatever the comparison.
    static func match(_ json: JSONValue) -> ([Condition], String) {
        let op = json["op"]?.string ?? "=="
        let left = json["left"] ?? .null, right = json["right"] ?? .null
        let negated = op == "!="
        // nft leaves `==` out, but not after a binary operation (`ct mark & 0x10 == 0x10`).
        let implicit = (op == "==" || op == "in") && left["&"] == nil
        let text = "\(describe(left)) \(implicit ? "" : op + " ")\(describe(right))"
        var implied: [Condition] = []
        switch left["payload"]?["protocol"]?.string {
        case "ip": implied.append(Condition(.family(.ipv4)))
        case "ip6": implied.append(Condition(.family(.ipv6)))
        case let p?: if let numbers = IptablesRuleText.protocols(p) { implied.append(Condition(.proto(numbers))) }
        case nil: break
        }
        guard op == "==" || op == "!=" || op == "in" else { return (implied + [Condition(.unknown(text))], text) }
        return (implied + [Condition(kind(left, right) ?? .unknown(text), negated: negated)], text)
    }

    static func kind(_ left: JSONValue, _ right: JSONValue) -> Condition.Kind? {
        if right.string?.hasPrefix("@") == true { return nil }
        let values = right["set"]?.array ?? right.array ?? [right]
        if let meta = left["meta"]?["key"]?.string {
            switch meta {
            case "iifname", "iif": return .inInterface(values.compactMap(name))
            case "oifname", "oif": return .outInterface(values.compactMap(name))
            case "l4proto": return protocols(values)
            case "nfproto":
                let families = values.compactMap { $0.string }.compactMap { $0 == "ipv4" ? Family.ipv4 : $0 == "ipv6" ? Family.ipv6 : nil }
                return families.count == 1 ? .family(families[0]) : nil
            default: return nil
            }
        }
        if let payload = left["payload"], let field = payload["field"]?.string {
            let proto = payload["protocol"]?.string ?? ""
            switch (proto, field) {
            case ("ip", "saddr"), ("ip6", "saddr"):
                let networks = values.compactMap(network)
                return networks.count == values.count ? .address(.source, networks) : nil
            case ("ip", "daddr"), ("ip6", "daddr"):
                let networks = values.compactMap(network)
                return networks.count == values.count ? .address(.destination, networks) : nil
            case ("ip", "protocol"), ("ip6", "nexthdr"): return protocols(values)
            case (_, "dport"), (_, "sport"):
                let ranges = values.compactMap(ports)
                guard ranges.count == values.count else { return nil }
                // `tcp dport 80` holds only for TCP: nft writes the protocol check as a match
                // of its own before it, which `l4proto` reads.
                return .port(field == "dport" ? .destination : .source, ranges)
            default: return nil
            }
        }
        if let ct = left["ct"]?["key"]?.string, left["ct"]?["dir"] == nil {
            let words = Set(values.flatMap { $0.array ?? [$0] }.compactMap(\.string))
            switch ct {
            case "state": return words.isEmpty ? nil : .ctState(words)
            case "status": return words.isEmpty ? nil : .ctStatus(words)
            case "direction": return words == ["original"] ? .ctDirection(.original) : words == ["reply"] ? .ctDirection(.reply) : nil
            case "mark":
                guard let v = right.uint64.flatMap(UInt32.init(exactly:)) else { return nil }
                return .ctMark(mask: 0xffff_ffff, value: v)
            default: return nil
            }
        }
        // `ct mark & 0x10000000 == 0x10000000`.
        if let and = left["&"]?.array, and.count == 2, and[0]["ct"]?["key"]?.string == "mark", and[0]["ct"]?["dir"] == nil,
           let mask = and[1].uint64.flatMap(UInt32.init(exactly:)), let v = right.uint64.flatMap(UInt32.init(exactly:)) {
            return .ctMark(mask: mask, value: v)
        }
        return nil
    }

    static func name(_ json: JSONValue) -> Condition.Name? {
        guard let text = json.string else { return nil }
        // nft's wildcard is a trailing `*`; `\*` is the character.
        if text.hasSuffix("\\*") { return Condition.Name(String(text.dropLast(2)) + "*", prefix: false) }
        if text.hasSuffix("*") { return Condition.Name(String(text.dropLast()), prefix: true) }
        return Condition.Name(text, prefix: false)
    }

    static func protocols(_ values: [JSONValue]) -> Condition.Kind? {
        var numbers = Set<Int>()
        for v in values {
            if let n = v.int {
                numbers.insert(n)
            } else if let s = v.string, let p = IptablesRuleText.protocols(s) {
                numbers.formUnion(p)
            } else {
                return nil
            }
        }
        return .proto(numbers)
    }

    static func network(_ json: JSONValue) -> Network? {
        if let text = json.string, let address = IPAddress(text) { return Network(masking: address, prefix: address.bitWidth) }
        if let prefix = json["prefix"], let text = prefix["addr"]?.string, let address = IPAddress(text), let length = prefix["len"]?.int,
           length >= 0, length <= address.bitWidth {
            return Network(masking: address, prefix: length)
        }
        if let range = json["range"]?.array, range.count == 2, let a = range[0].string.flatMap(IPAddress.init),
           range[1].string.flatMap(IPAddress.init) == a {
            return Network(masking: a, prefix: a.bitWidth)
        }
        return nil
    }

    static func ports(_ json: JSONValue) -> PortRange? {
        if let n = json.int.flatMap(UInt16.init(exactly:)) { return PortRange(port: n) }
        if let range = json["range"]?.array, range.count == 2, let a = range[0].int.flatMap(UInt16.init(exactly:)),
           let b = range[1].int.flatMap(UInt16.init(exactly:)) {
            return PortRange(a, b)
        }
        return nil
    }

    /// A value as nft would roughly write it, for naming a rule.
    static func describe(_ json: JSONValue) -> String {
        switch json {
        case .object(let o):
            if let meta = o["meta"]?["key"]?.string { return "meta \(meta)" }
            if let p = o["payload"], let field = p["field"]?.string { return "\(p["protocol"]?.string ?? "") \(field)" }
            if let ct = o["ct"]?["key"]?.string { return "ct \(o["ct"]?["dir"]?.string.map { $0 + " " } ?? "")\(ct)" }
            if let set = o["set"]?.array { return "{ " + set.map(describe).joined(separator: ", ") + " }" }
            if let parts = o["concat"]?.array { return parts.map(describe).joined(separator: " . ") }
            if let fib = o["fib"] { return "fib \(describe(fib["flags"] ?? .null)) \(fib["result"]?.string ?? "")" }
            if let and = o["&"]?.array, and.count == 2 { return "\(describe(and[0])) & \(describe(and[1]))" }
            if let prefix = o["prefix"] { return "\(describe(prefix["addr"] ?? .null))/\(describe(prefix["len"] ?? .null))" }
            if let range = o["range"]?.array, range.count == 2 { return "\(describe(range[0]))-\(describe(range[1]))" }
            return o.keys.sorted().first ?? "?"
        case .array(let a): return a.map(describe).joined(separator: ",")
        case .unsigned(let n):
            return n >= 0x10000 ? "0x" + String(n, radix: 16) : "\(n)"
        default: return NftJSON.text(json)
        }
    }
}
