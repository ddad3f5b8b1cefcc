import PortFwdCore
import PortFwdReaders

/// libnftables' JSON output read into typed values: rules with their handles and comments, and
/// our table as an `NftTable` whose elements are `NftValue`s read by the set's declared field
/// types. A value that does not read as its field's type stays `unreadable`.
public enum NftJSON {
    public struct Rule: Sendable, Equatable {
        public let chain: String
        public let handle: Int
        public let comment: String?
        /// The chain it jumps or goes to, if it does.
        public var target: String? = nil
        /// What it does, read from its expression (`NftFilterJSON`): its conditions and verdict,
        /// one reading per alternative of a verdict map. A comment can be copied onto any rule;
        /// this is what the rule does.
        public var reading: [Reading] = []

        public struct Reading: Sendable, Equatable {
            public let conditions: [Condition]
            public let verdict: Verdict

            public init(conditions: [Condition], verdict: Verdict) {
                self.conditions = conditions
                self.verdict = verdict
            }
        }
    }

    static func items(_ text: String) throws(PortFwdError) -> [JSONValue] {
        do {
            return try JSONValue.parse(Array(text.utf8))["nftables"]?.array ?? []
        } catch {
            throw PortFwdError(.invalidInput, "libnftables printed JSON that does not parse: \(error.reason)")
        }
    }

    static func rule(_ rule: JSONValue) -> Rule? {
        guard let handle = rule["handle"]?.int else { return nil }
        let target = rule["expr"]?.array?.lazy.compactMap { $0["jump"]?["target"]?.string ?? $0["goto"]?["target"]?.string }.first
        let reading = NftFilterJSON.rules(rule["expr"]?.array ?? [], position: "handle \(handle)", comment: nil, handle: handle)
            .map { Rule.Reading(conditions: $0.conditions, verdict: $0.verdict) }
        return Rule(chain: rule["chain"]?.string ?? "", handle: handle, comment: rule["comment"]?.string, target: target, reading: reading)
    }

    public static func rules(_ text: String) throws(PortFwdError) -> [Rule] {
        try items(text).compactMap { $0["rule"] }.compactMap(rule)
    }

    /// A listing of a table, a set or a chain, as the model; of a ruleset, the table `only`.
    /// Rules keep their comment, which holds their identity, and a digest of their expression
    /// (`RuleContents`): the kernel's expression tree is not read back into text.
    public static func table(_ text: String, only: NftTableID? = nil) throws(PortFwdError) -> NftTable {
        var table = NftTable()
        var chains: [String: Int] = [:]
        for item in try items(text) {
            if let only, let object = item["set"] ?? item["map"] ?? item["chain"] ?? item["rule"],
               object["family"]?.string != only.family || object["table"]?.string != only.name { continue }
            if let json = item["set"] ?? item["map"], let set = set(json) {
                table.sets.append(set)
            } else if let chain = item["chain"], let name = chain["name"]?.string {
                if chains[name] == nil { chains[name] = table.chains.count; table.chains.append(NftChain(name: name, rules: [])) }
                if let type = chain["type"]?.string, let hook = chain["hook"]?.string {
                    table.chains[chains[name]!].hook = NftHook(type: type, hook: hook, priority: chain["prio"]?.int ?? 0,
                                                               policy: chain["policy"]?.string ?? "accept")
                }
            } else if let r = item["rule"], let name = r["chain"]?.string {
                if chains[name] == nil { chains[name] = table.chains.count; table.chains.append(NftChain(name: name, rules: [])) }
                table.chains[chains[name]!].rules.append(NftRule("", comment: r["comment"]?.string,
                                                                 content: r["expr"].map(RuleContents.digest(expression:))))
            }
        }
        return table
    }

    /// The counters of our count sets in a listing, by forward.
    public static func counters(_ text: String) throws(PortFwdError) -> Counters { try table(text).counters }

    static func set(_ json: JSONValue) -> NftSet? {
        guard let name = json["name"]?.string else { return nil }
        let key = fields(json["type"]), data = json["map"].map(fields) ?? []
        let flags = json["flags"]?.array?.compactMap(\.string) ?? json["flags"]?.string.map { [$0] } ?? []
        var set = NftSet(name: name, key: key, data: data, interval: flags.contains("interval"),
                         counter: json["stmt"]?.array?.contains { $0["counter"] != nil } ?? false)
        // libnftables lists a set's statements from 1.0.6 on; before, whether it counts is not said.
        set.counterListed = json["stmt"] != nil
        set.elements = (json["elem"]?.array ?? []).map { element($0, key: key, data: data) }
        return set
    }

    /// `"ipv4_addr"`, `["inet_proto", "inet_service"]` or `"ipv4_addr . inet_service"`.
    static func fields(_ json: JSONValue?) -> [NftField] {
        if let array = json?.array { return array.map { NftField($0.string ?? "?") } }
        return (json?.string ?? "?").split(separator: " . ").map { NftField(String($0)) }
    }

    /// One element: `{"concat": [...]}`, `[key, data]` in a map, `{"elem": {"val": ..., "counter": ...}}`.
    static func element(_ json: JSONValue, key: [NftField], data: [NftField]) -> NftElement {
        if let pair = json.array, pair.count == 2, !data.isEmpty {
            var element = self.element(pair[0], key: key, data: [])
            element.data = values(pair[1], data)
            return element
        }
        if let elem = json["elem"], let val = elem["val"] {
            var element = self.element(val, key: key, data: data)
            if let counter = elem["counter"] {
                element.counter = Counts(packets: counter["packets"]?.uint64 ?? 0, bytes: counter["bytes"]?.uint64 ?? 0)
            }
            element.comment = elem["comment"]?.string
            return element
        }
        return NftElement(values(json, key))
    }

    static func values(_ json: JSONValue, _ fields: [NftField]) -> [NftValue] {
        let parts = json["concat"]?.array ?? [json]
        guard parts.count == fields.count else { return [.unreadable(text(json))] }
        return zip(parts, fields).map { value($0, $1) }
    }

    static func value(_ json: JSONValue, _ field: NftField) -> NftValue {
        switch field {
        case .address(let family):
            if let text = json.string, let address = IPAddress(text), address.family == family { return .address(address) }
            if let prefix = json["prefix"], let text = prefix["addr"]?.string, let address = IPAddress(text), address.family == family,
               let length = prefix["len"]?.int, length >= 0, length <= family.bits {
                let network = Network(masking: address, prefix: length)
                if network.address == address { return .network(network) }
            }
        case .proto:
            if let text = json.string, let proto = Proto(rawValue: text) { return .proto(proto) }
            // Without /etc/protocols, nft prints the number.
            if let number = json.int, let proto = Proto.allCases.first(where: { $0.number == number }) { return .proto(proto) }
        case .service:
            if let port = json.int.flatMap(UInt16.init(exactly:)), let range = PortRange(port: port) { return .ports(range) }
            if let bounds = json["range"]?.array, bounds.count == 2, let lower = bounds[0].int.flatMap(UInt16.init(exactly:)),
               let upper = bounds[1].int.flatMap(UInt16.init(exactly:)), let range = PortRange(lower, upper) {
                return .ports(range)
            }
        case .other:
            break
        }
        return .unreadable(text(json))
    }

    /// A value this tool cannot read, shown the way nft would write it.
    static func text(_ json: JSONValue) -> String {
        switch json {
        case .object:
            if let parts = json["concat"]?.array { return parts.map(text).joined(separator: " . ") }
            if let prefix = json["prefix"] { return "\(text(prefix["addr"] ?? .null))/\(text(prefix["len"] ?? .null))" }
            if let range = json["range"]?.array, range.count == 2 { return "\(text(range[0]))-\(text(range[1]))" }
            return "{...}"
        case .string(let s): return LogText.line(s)
        case .unsigned(let n): return "\(n)"
        case .integer(let n): return "\(n)"
        case .double(let d): return "\(d)"
        case .bool(let b): return b ? "true" : "false"
        case .array(let a): return a.map(text).joined(separator: " . ")
        case .null: return ""
        }
    }
}
