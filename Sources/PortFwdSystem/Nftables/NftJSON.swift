import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif
import PortFwdCore

/// The pieces of libnftables' JSON output we read back: rules with their handles and
/// comments, set elements in the same text form the renderer writes them, and counters.
public enum NftJSON {
    public struct Rule: Sendable, Equatable {
        public let chain: String
        public let handle: Int
        public let comment: String?
    }

    /// A table as listed: each set's elements (normalised like `nft` prints them) and each
    /// chain's rules in order.
    public struct Table: Sendable, Equatable {
        public var sets: [String: [String]] = [:]
        public var chains: [String: [Rule]] = [:]
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
        return Rule(chain: rule["chain"]?.string ?? "", handle: handle, comment: rule["comment"]?.string)
    }

    public static func rules(_ text: String) throws(PortFwdError) -> [Rule] {
        try items(text).compactMap { $0["rule"] }.compactMap(rule)
    }

    public static func table(_ text: String) throws(PortFwdError) -> Table {
        var table = Table()
        for item in try items(text) {
            if let set = item["set"] ?? item["map"], let name = set["name"]?.string {
                table.sets[name] = (set["elem"]?.array ?? []).map(element)
            } else if let chain = item["chain"], let name = chain["name"]?.string {
                table.chains[name, default: []] = table.chains[name] ?? []
            } else if let r = item["rule"], let chain = r["chain"]?.string {
                table.chains[chain, default: []].append(Rule(chain: chain, handle: r["handle"]?.int ?? 0, comment: r["comment"]?.string))
            }
        }
        return table
    }

    /// The counters of our count sets (`count4`, `count6_ranges`, ...) in a listing, by endpoint.
    /// An element that is not one of ours (not an address, a protocol and ports) is left out.
    public static func counters(_ text: String) throws(PortFwdError) -> Counters {
        var result: Counters = [:]
        for item in try items(text) {
            guard let set = item["set"], set["name"]?.string?.hasPrefix("count") == true, let elems = set["elem"]?.array else { continue }
            for wrapper in elems {
                guard let elem = wrapper["elem"], let concat = elem["val"]?["concat"]?.array, concat.count == 3,
                      let address = IPAddress(value(concat[0])), let proto = Proto(rawValue: value(concat[1])),
                      let ports = try? PortRange.parse(Substring(value(concat[2]))) else { continue }
                let counter = elem["counter"]
                result[Endpoint(address: address, proto: proto, ports: ports)] =
                    Counts(packets: counter?["packets"]?.uint64 ?? 0, bytes: counter?["bytes"]?.uint64 ?? 0)
            }
        }
        return result
    }

    /// One element as the renderer writes it: `tcp . 8080 : 192.168.122.10 . 80`.
    static func element(_ any: JSONValue) -> String {
        if let pair = any.array, pair.count == 2 { return "\(value(pair[0])) : \(value(pair[1]))" }
        if let val = any["elem"]?["val"] { return value(val) }
        return value(any)
    }

    static func value(_ any: JSONValue) -> String {
        switch any {
        case .object:
            if let parts = any["concat"]?.array { return parts.map(value).joined(separator: " . ") }
            if let prefix = any["prefix"] { return "\(value(prefix["addr"] ?? .string("")))/\(value(prefix["len"] ?? .string("")))" }
            if let range = any["range"]?.array, range.count == 2 { return "\(value(range[0]))-\(value(range[1]))" }
            if let val = any["elem"]?["val"] { return value(val) }
            return ""
        case .string(let s): return s
        case .unsigned(let n): return "\(n)"
        case .integer(let n): return "\(n)"
        case .double(let d): return "\(d)"
        case .bool(let b): return b ? "true" : "false"
        case .array(let a): return a.map(value).joined(separator: " . ")
        case .null: return ""
        }
    }
}
