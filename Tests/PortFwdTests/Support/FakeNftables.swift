import Foundation
@testable import PortFwd
import PortFwdCore
import PortFwdSystem

/// An in-memory nftables, after knftables' fake.go: it keeps a ruleset that tests can dump and
/// assert on, for the commands this tool sends (our table's swap and listings, libvirt's
/// `libvirt_network` chains, iptables-nft's presence, firewalld's strict chain). A script runs
/// as one transaction: any error leaves the state as it was.
final class FakeNftables: NftablesRunner, @unchecked Sendable {
    struct Rule: Equatable {
        var handle: Int
        var text: String
        var comment: String?
    }

    private let lock = NSLock()
    /// Our table's `table inet libvirt_portfwd { ... }` block, as installed.
    private(set) var table: String?
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
                    if table == nil { table = "" }
                } else if line == "delete table inet libvirt_portfwd" {
                    guard table != nil else { throw PortFwdError(.notFound, "Error: Could not process rule: No such file or directory") }
                    table = nil
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
                    table = block.joined(separator: "\n")
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
            return Self.json(tableItems(table))
        case ("table", _):
            throw notFound
        case ("chain", 5) where words[3] == "filter" && words[4] == "FORWARD":
            guard let family = Self.family(words[2]), iptables?.hasTable(.nft, family, "filter") == true else { throw notFound }
            return ""
        case ("chain", 5) where words[3] == LibvirtForwardChain.table:
            guard let family = Self.family(words[2]), let rules = libvirt[family]?[words[4]] else { throw notFound }
            return Self.json(rules.map { r in
                var rule: [String: Any] = ["family": words[2], "table": words[3], "chain": words[4], "handle": r.handle, "expr": []]
                if let c = r.comment { rule["comment"] = c }
                return ["rule": rule]
            })
        case ("chain", 5) where words[2] == "inet" && words[3] == "firewalld" && words[4] == "filter_FORWARD_dnat":
            guard strictFirewalld else { throw notFound }
            return ""
        case ("set", 5) where words[3] == "libvirt_portfwd":
            guard let table else { throw notFound }
            let counts = Self.counters(table, set: words[4])
            return Self.json(tableItems(table).filter { ($0["set"] as? [String: Any])?["name"] as? String == words[4] }.map { item in
                var set = item["set"] as! [String: Any]
                set["elem"] = (set["elem"] as? [String] ?? []).map { e in
                    let (packets, bytes) = counts[e] ?? (0, 0)
                    let parts: [Any] = e.components(separatedBy: " . ").map { part in
                        let range = part.split(separator: "-")
                        return range.count == 2 && !part.contains(":") ? ["range": [UInt64(range[0])!, UInt64(range[1])!]] as Any : part as Any
                    }
                    return ["elem": ["val": ["concat": parts], "counter": ["packets": packets, "bytes": bytes]]]
                }
                return ["set": set]
            })
        default:
            throw notFound
        }
    }

    /// The counters the elements of one set carry in the table's text (` counter packets P bytes B`).
    private static func counters(_ text: String, set name: String) -> [String: (UInt64, UInt64)] {
        var result: [String: (UInt64, UInt64)] = [:]
        var current: String?
        for raw in text.split(separator: "\n") {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("set ") || line.hasPrefix("map ") { current = line.split(separator: " ")[1].description; continue }
            guard current == name, let mark = line.range(of: " counter packets ") else { continue }
            let numbers = line[mark.upperBound...].split(whereSeparator: { !$0.isNumber }).compactMap { UInt64($0) }
            if numbers.count == 2 { result[String(line[..<mark.lowerBound])] = (numbers[0], numbers[1]) }
        }
        return result
    }

    /// Traffic: the element `element` of count set `set` counts one packet of `bytes` more.
    func count(_ set: String, _ element: String, bytes: UInt64) {
        lock.withLock {
            guard let text = table else { return }
            var current: String?
            table = text.split(separator: "\n", omittingEmptySubsequences: false).map { raw -> String in
                let line = raw.trimmingCharacters(in: .whitespaces)
                if line.hasPrefix("set ") || line.hasPrefix("map ") { current = line.split(separator: " ")[1].description }
                guard current == set, line == element + "," || line.hasPrefix(element + " counter packets ") else { return String(raw) }
                let (p, b) = Self.counters("set \(set) {\n" + line, set: set)[element] ?? (0, 0)
                return "\(element) counter packets \(p + 1) bytes \(b + bytes),"
            }.joined(separator: "\n")
        }
    }

    /// Our table as libnftables would list it in JSON: set elements as text, rules with comments.
    private func tableItems(_ text: String) -> [[String: Any]] {
        let shape = TableShape(rendered: text)
        var items: [[String: Any]] = shape.sets.keys.sorted().map { ["set": ["name": $0, "elem": shape.sets[$0]!]] }
        for (chain, count) in shape.chains.sorted(by: { $0.key < $1.key }) {
            items.append(["chain": ["name": chain]])
            let comment = chain == "forward" ? text.split(separator: "\n").first { $0.contains("comment \"libvirt-portfwd plan ") }
                .flatMap { line in line.range(of: "comment \"").map { String(line[$0.upperBound...].dropLast()) } } : nil
            for n in 0..<count {
                var rule: [String: Any] = ["chain": chain, "handle": n + 1]
                if n == 0, let comment { rule["comment"] = comment }
                items.append(["rule": rule])
            }
        }
        return items
    }

    private static func json(_ items: [[String: Any]]) -> String {
        String(decoding: try! JSONSerialization.data(withJSONObject: ["nftables": items], options: [.sortedKeys]), as: UTF8.self)
    }

    /// Everything, as text: what tests compare before and after.
    var dump: String {
        lock.withLock {
            var text = "table inet libvirt_portfwd: " + (table ?? "absent") + "\n"
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
