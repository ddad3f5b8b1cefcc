/// iptables-save's rules read into `FilterRule`s: the matches that decide whether a rule
/// touches our traffic (addresses, interfaces, protocol, ports, conntrack state and status,
/// connmark) and its target. Any other match is `.unknown`; the text is only read, never
/// written back.
public enum IptablesRuleText {
    /// A table's chains as iptables-save lists them: policies (`-` for user chains) and each
    /// chain's rule specs (what follows `-A CHAIN `), in order.
    public static func table(name: String, family: Family, policies: [String: String], rules: [(chain: String, spec: String)],
                             hooked: [String] = ["FORWARD"]) -> FilterTable {
        let names = Set(policies.keys)
        var chains: [String: FilterChain] = [:]
        for (chain, policy) in policies {
            let verdict: Verdict? = policy == "-" ? nil : (policy == "DROP" ? .drop : .accept)
            chains[chain] = FilterChain(name: chain, rules: [], policy: verdict)
        }
        var counts: [String: Int] = [:]
        for (chain, spec) in rules where chains[chain] != nil {
            counts[chain, default: 0] += 1
            chains[chain]!.rules.append(rule(spec, position: "rule \(counts[chain]!)", chains: names))
        }
        return FilterTable(name: name, family: family, chains: chains, baseChains: hooked.filter { chains[$0] != nil })
    }

    /// One rule spec: `-s 203.0.113.5/32 -i eth0 -p tcp -m tcp --dport 80 -j DROP`.
    public static func rule(_ spec: String, position: String, chains: Set<String>) -> FilterRule {
        let words = tokens(spec)
        var conditions: [Condition] = []
        var verdict = Verdict.none
        var negate = false
        var module = ""
        var i = 0
        func next() -> String? {
            i += 1
            return i < words.count ? words[i] : nil
        }
        func add(_ kind: Condition.Kind) {
            conditions.append(Condition(kind, negated: negate))
            negate = false
        }
        while i < words.count {
            let word = words[i]
            switch word {
            case "!": negate = true
            case "-s", "--source", "-d", "--destination":
                let side: Condition.Side = word.hasPrefix("-s") || word == "--source" ? .source : .destination
                if let text = next() {
                    let networks = text.split(separator: ",").compactMap { try? Network.parse(String($0)) }
                    add(networks.isEmpty ? .unknown(text) : .address(side, networks))
                }
            case "-i", "--in-interface", "-o", "--out-interface":
                if let text = next() {
                    let name = text.hasSuffix("+") ? Condition.Name(String(text.dropLast()), prefix: true) : Condition.Name(text, prefix: false)
                    add(word == "-i" || word == "--in-interface" ? .inInterface([name]) : .outInterface([name]))
                }
            case "-p", "--protocol":
                if let text = next() {
                    if text == "all" || text == "0" { negate = false } else { add(protocols(text).map { .proto($0) } ?? .unknown("-p \(text)")) }
                }
            case "-m", "--match": module = next() ?? ""
            case "-j", "--jump", "-g", "--goto":
                let target = next() ?? ""
                verdict = Self.verdict(target, goto: word == "-g" || word == "--goto", chains: chains)
                // Target options follow; none of them changes whether the rule matches.
                i = words.count
                continue
            default:
                guard word.hasPrefix("-") else { break }
                // A flag (`--syn`) has no value: the next word is then an option itself.
                var value = ""
                if i + 1 < words.count, !words[i + 1].hasPrefix("-"), words[i + 1] != "!" { value = next() ?? "" }
                if let kind = option(word, value, module: module) { add(kind) } else { negate = false }
            }
            i += 1
        }
        return FilterRule(conditions: conditions, verdict: verdict, position: position, text: spec)
    }

    /// A module's option and its value; nil for one that matches every packet (a comment).
    static func option(_ option: String, _ value: String, module: String) -> Condition.Kind? {
        switch (module, option) {
        case ("comment", _): return nil
        case ("tcp", "--dport"), ("udp", "--dport"), ("sctp", "--dport"), ("tcp", "--destination-port"), ("udp", "--destination-port"):
            return ports(value).map { .port(.destination, $0) } ?? .unknown("\(option) \(value)")
        case ("tcp", "--sport"), ("udp", "--sport"), ("sctp", "--sport"), ("tcp", "--source-port"), ("udp", "--source-port"):
            return ports(value).map { .port(.source, $0) } ?? .unknown("\(option) \(value)")
        case ("multiport", "--dports"), ("multiport", "--destination-ports"):
            return ports(value).map { .port(.destination, $0) } ?? .unknown("\(option) \(value)")
        case ("multiport", "--sports"), ("multiport", "--source-ports"):
            return ports(value).map { .port(.source, $0) } ?? .unknown("\(option) \(value)")
        case ("conntrack", "--ctstate"), ("state", "--state"):
            let words = Set(value.lowercased().split(separator: ",").map(String.init))
            let states: Set<String> = ["new", "established", "related", "invalid", "untracked"]
            if words.isSubset(of: states) { return .ctState(words) }
            if words.isSubset(of: ["dnat", "snat"]) { return .ctStatus(words) }
            return .unknown("\(option) \(value)")
        case ("conntrack", "--ctstatus"):
            return .ctStatus(Set(value.lowercased().split(separator: ",").map { $0 == "seen_reply" ? "seen-reply" : String($0) }))
        case ("conntrack", "--ctdir"):
            return value == "ORIGINAL" ? .ctDirection(.original) : value == "REPLY" ? .ctDirection(.reply) : .unknown("\(option) \(value)")
        case ("connmark", "--mark"):
            let parts = value.split(separator: "/")
            guard let v = number(parts.first), let m = parts.count > 1 ? number(parts[1]) : 0xffff_ffff else { return .unknown("\(option) \(value)") }
            return .ctMark(mask: m, value: v)
        default:
            return .unknown("-m \(module) \(option) \(value)")
        }
    }

    public static func verdict(_ target: String, goto: Bool, chains: Set<String>) -> Verdict {
        if chains.contains(target) { return goto ? .goto(target) : .jump(target) }
        switch target {
        case "ACCEPT": return .accept
        case "DROP": return .drop
        case "REJECT": return .reject
        case "RETURN": return .return
        case "LOG", "NFLOG", "ULOG", "MARK", "CONNMARK", "CT", "CHECKSUM", "TRACE", "CLASSIFY", "DSCP", "TOS", "TCPMSS", "TEE", "AUDIT",
             "SECMARK", "CONNSECMARK", "TTL", "HL", "IDLETIMER", "LED", "NOTRACK", "RATEEST", "TCPOPTSTRIP":
            return .none
        case "NFQUEUE", "QUEUE": return .other("queues to a program")
        default: return .other("is target \(target)")
        }
    }

    public static func protocols(_ text: String) -> Set<Int>? {
        if let proto = Proto(rawValue: text.lowercased()) { return [proto.number] }
        if let n = Int(text) { return [n] }
        switch text.lowercased() {
        case "icmp": return [1]
        case "ipv6-icmp", "icmpv6": return [58]
        case "gre": return [47]
        case "esp": return [50]
        case "ah": return [51]
        case "udplite": return [136]
        default: return nil
        }
    }

    /// `80`, `1000:2000`, `80,443,8000:8080`.
    static func ports(_ text: String) -> [PortRange]? {
        var result: [PortRange] = []
        for part in text.split(separator: ",") {
            let bounds = part.split(separator: ":", omittingEmptySubsequences: false)
            let lower = bounds.first.flatMap { $0.isEmpty ? 0 : UInt16($0) }
            let upper = bounds.count > 1 ? (bounds[1].isEmpty ? 65535 : UInt16(bounds[1])) : lower
            guard let lower, let upper, let range = PortRange(lower, upper) else { return nil }
            result.append(range)
        }
        return result.isEmpty ? nil : result
    }

    static func number(_ text: Substring?) -> UInt32? {
        guard let text else { return nil }
        if text.hasPrefix("0x") { return UInt32(text.dropFirst(2), radix: 16) }
        return UInt32(text)
    }

    /// Words, with iptables-save's double quotes (`--comment "a b"`) kept together.
    static func tokens(_ spec: String) -> [String] {
        var words: [String] = [], current = "", quoted = false, escaped = false
        for c in spec {
            if escaped { current.append(c); escaped = false; continue }
            switch c {
            case "\\": escaped = true
            case "\"": quoted.toggle()
            case " " where !quoted:
                if !current.isEmpty { words.append(current); current = "" }
            default: current.append(c)
            }
        }
        if !current.isEmpty { words.append(current) }
        return words
    }
}
