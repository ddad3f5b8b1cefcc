import Foundation
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

    static func items(_ text: String) throws(PortFwdError) -> [[String: Any]] {
        do {
            let root = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
            return root?["nftables"] as? [[String: Any]] ?? []
        } catch {
            throw PortFwdError(.invalidInput, "libnftables printed JSON that does not parse: \(error.localizedDescription)")
        }
    }

    public static func rules(_ text: String) throws(PortFwdError) -> [Rule] {
        try items(text).compactMap { $0["rule"] as? [String: Any] }.compactMap { rule in
            guard let handle = rule["handle"] as? Int else { return nil }
            return Rule(chain: rule["chain"] as? String ?? "", handle: handle, comment: rule["comment"] as? String)
        }
    }

    public static func table(_ text: String) throws(PortFwdError) -> Table {
        var table = Table()
        for item in try items(text) {
            if let set = (item["set"] ?? item["map"]) as? [String: Any], let name = set["name"] as? String {
                table.sets[name] = (set["elem"] as? [Any] ?? []).map(element)
            } else if let chain = item["chain"] as? [String: Any], let name = chain["name"] as? String {
                table.chains[name, default: []] = table.chains[name] ?? []
            } else if let rule = item["rule"] as? [String: Any], let chain = rule["chain"] as? String {
                table.chains[chain, default: []].append(Rule(chain: chain, handle: rule["handle"] as? Int ?? 0, comment: rule["comment"] as? String))
            }
        }
        return table
    }

    /// Elements of a set declared with `counter`: key parts and the counter.
    public static func counters(_ text: String) throws(PortFwdError) -> [EndpointCounter] {
        var result: [EndpointCounter] = []
        for item in try items(text) {
            guard let set = item["set"] as? [String: Any], let elems = set["elem"] as? [Any] else { continue }
            for case let wrapper as [String: Any] in elems {
                guard let elem = wrapper["elem"] as? [String: Any],
                      let val = elem["val"] as? [String: Any], let concat = val["concat"] as? [Any], concat.count == 3 else { continue }
                let counter = elem["counter"] as? [String: Any]
                result.append(EndpointCounter(
                    address: value(concat[0]), proto: value(concat[1]), ports: value(concat[2]),
                    packets: (counter?["packets"] as? NSNumber)?.uint64Value ?? 0,
                    bytes: (counter?["bytes"] as? NSNumber)?.uint64Value ?? 0))
            }
        }
        return result
    }

    /// One element as the renderer writes it: `tcp . 8080 : 192.168.122.10 . 80`.
    static func element(_ any: Any) -> String {
        if let pair = any as? [Any], pair.count == 2 { return "\(value(pair[0])) : \(value(pair[1]))" }
        if let wrapper = any as? [String: Any], let elem = wrapper["elem"] as? [String: Any], let val = elem["val"] { return value(val) }
        return value(any)
    }

    static func value(_ any: Any) -> String {
        if let dict = any as? [String: Any] {
            if let parts = dict["concat"] as? [Any] { return parts.map(value).joined(separator: " . ") }
            if let prefix = dict["prefix"] as? [String: Any] { return "\(value(prefix["addr"] ?? ""))/\(value(prefix["len"] ?? ""))" }
            if let range = dict["range"] as? [Any], range.count == 2 { return "\(value(range[0]))-\(value(range[1]))" }
            if let elem = dict["elem"] as? [String: Any], let val = elem["val"] { return value(val) }
        }
        if let number = any as? NSNumber { return number.stringValue }
        return "\(any)"
    }
}
