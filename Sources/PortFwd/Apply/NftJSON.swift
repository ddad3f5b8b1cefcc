import Foundation

/// The few pieces of libnftables' JSON output we read back.
enum NftJSON {
    struct Rule {
        let handle: Int
        let comment: String?
    }

    static func items(_ text: String) throws -> [[String: Any]] {
        let root = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
        return root?["nftables"] as? [[String: Any]] ?? []
    }

    static func rules(_ text: String) throws -> [Rule] {
        try items(text).compactMap { $0["rule"] as? [String: Any] }.compactMap { rule in
            guard let handle = rule["handle"] as? Int else { return nil }
            return Rule(handle: handle, comment: rule["comment"] as? String)
        }
    }

    /// Elements of a set declared with `counter`: key parts and the counter.
    static func counters(_ text: String) throws -> [EndpointCounter] {
        var result: [EndpointCounter] = []
        for item in try items(text) {
            guard let set = item["set"] as? [String: Any], let elems = set["elem"] as? [Any] else { continue }
            for case let wrapper as [String: Any] in elems {
                guard let elem = wrapper["elem"] as? [String: Any],
                      let val = elem["val"] as? [String: Any], let concat = val["concat"] as? [Any], concat.count == 3 else { continue }
                let counter = elem["counter"] as? [String: Any]
                result.append(EndpointCounter(
                    address: "\(concat[0])", proto: "\(concat[1])", ports: portText(concat[2]),
                    packets: (counter?["packets"] as? NSNumber)?.uint64Value ?? 0,
                    bytes: (counter?["bytes"] as? NSNumber)?.uint64Value ?? 0))
            }
        }
        return result
    }

    private static func portText(_ value: Any) -> String {
        if let range = (value as? [String: Any])?["range"] as? [Any], range.count == 2 { return "\(range[0])-\(range[1])" }
        return "\(value)"
    }
}
