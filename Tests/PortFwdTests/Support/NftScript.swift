import Foundation
@testable import PortFwdCore

/// Reads the `table inet libvirt_portfwd { ... }` text that NftRenderer writes (or a test
/// writes by hand) into the typed model. Test-only: the tool itself never parses nft text, it
/// builds the model from the plan and reads the kernel's JSON.
enum NftScript {
    struct Failure: Error, CustomStringConvertible { let description: String }

    static func table(_ text: String) throws -> NftTable {
        var table = NftTable()
        var set: NftSet?, chain: NftChain?, inElements = false, owner: GuestName?
        var notes: [String] = []
        for raw in text.split(separator: "\n") {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("table ") || line.hasPrefix("delete ") || line.hasPrefix("destroy ") { continue }
            let words = line.split(separator: " ").map(String.init)
            if line.hasPrefix("#") {
                let note = String(line.dropFirst(2))
                if inElements { owner = try? GuestName(note) } else { notes.append(note) }
            } else if (words.first == "set" || words.first == "map") && line.hasSuffix("{") && words.count == 3 {
                set = NftSet(name: words[1], comment: notes.last, key: [])
                notes = []
            } else if words.first == "chain" && line.hasSuffix("{") && words.count == 3 {
                chain = NftChain(name: words[1], notes: notes, rules: [])
                notes = []
            } else if line == "}" {
                if inElements { inElements = false; owner = nil }
                else if let s = set { table.sets.append(s); set = nil }
                else if let c = chain { table.chains.append(c); chain = nil }
            } else if set != nil {
                if line.hasPrefix("type ") {
                    let halves = line.dropFirst(5).components(separatedBy: " : ")
                    set!.key = try fields(halves[0])
                    set!.data = halves.count > 1 ? try fields(halves[1]) : []
                } else if line == "flags interval" { set!.interval = true }
                else if line == "counter" { set!.counter = true }
                else if line == "elements = {" { inElements = true }
                else if line.hasPrefix("elements = {") && line.hasSuffix("}") {
                    // Written on one line: `elements = { a, b }`.
                    for text in line.dropFirst(12).dropLast().split(separator: ",") {
                        set!.elements.append(try element(text.trimmingCharacters(in: .whitespaces), in: set!))
                    }
                }
                else if inElements {
                    var element = try self.element(String(line.hasSuffix(",") ? line.dropLast() : line[...]), in: set!)
                    element.owner = owner
                    set!.elements.append(element)
                } else { throw Failure(description: "unexpected line in set: \(line)") }
            } else if chain != nil {
                if line.hasPrefix("type ") { chain!.hook = try hook(line); continue }
                var text = line, comment: String?
                if let mark = line.range(of: " comment \"") {
                    text = String(line[..<mark.lowerBound])
                    comment = String(line[mark.upperBound...].dropLast())
                }
                chain!.rules.append(NftRule(text, notes: notes, comment: comment))
                notes = []
            }
        }
        return table
    }

    /// `type nat hook prerouting priority dstnat; policy accept;`
    static func hook(_ line: String) throws -> NftHook {
        let parts = line.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
        let words = parts[0].split(separator: " ", maxSplits: 5).map(String.init)
        guard words.count == 6, words[0] == "type", words[2] == "hook", words[4] == "priority" else { throw Failure(description: "bad hook: \(line)") }
        let named = ["dstnat": -100, "srcnat": 100, "filter": 0, "filter - 10": -10, "mangle": -150, "raw": -300, "filter + 10": 10]
        guard let priority = named[words[5]] ?? Int(words[5]) else { throw Failure(description: "bad priority: \(line)") }
        let policy = parts.first { $0.hasPrefix("policy ") }.map { String($0.dropFirst(7)) } ?? "accept"
        return NftHook(type: words[1], hook: words[3], priority: priority, priorityText: words[5], policy: policy)
    }

    static func fields(_ text: String) throws -> [NftField] {
        try text.components(separatedBy: " . ").map { name in
            let field = NftField(name)
            if case .other = field { throw Failure(description: "unknown type \(name)") }
            return field
        }
    }

    /// `tcp . 8080 : 192.168.122.10 . 80`, `192.168.122.10 . tcp . 80 counter packets 1 bytes 60`.
    static func element(_ text: String, in set: NftSet) throws -> NftElement {
        var text = text, counter: Counts?, comment: String?
        if let mark = text.range(of: " comment \"") {
            comment = String(text[mark.upperBound...].dropLast())
            text = String(text[..<mark.lowerBound])
        }
        if let mark = text.range(of: " counter packets ") {
            let numbers = text[mark.upperBound...].components(separatedBy: " bytes ").compactMap { UInt64($0) }
            guard numbers.count == 2 else { throw Failure(description: "bad counter in \(text)") }
            counter = Counts(packets: numbers[0], bytes: numbers[1])
            text = String(text[..<mark.lowerBound])
        }
        let halves = text.components(separatedBy: " : ")
        let key = try values(halves[0], set.key)
        let data = halves.count > 1 ? try values(halves[1], set.data) : []
        return NftElement(key, data: data, counter: counter, comment: comment)
    }

    static func values(_ text: String, _ fields: [NftField]) throws -> [NftValue] {
        let parts = text.components(separatedBy: " . ")
        guard parts.count == fields.count else { throw Failure(description: "\(text) does not have \(fields.count) fields") }
        return try zip(parts, fields).map { part, field in
            switch field {
            case .address:
                if part.contains("/") { return .network(try Network.parse(part)) }
                guard let address = IPAddress(part) else { throw Failure(description: "not an address: \(part)") }
                return .address(address)
            case .proto:
                guard let proto = Proto(rawValue: part) else { throw Failure(description: "not a protocol: \(part)") }
                return .proto(proto)
            case .service:
                return .ports(try PortRange.parse(Substring(part)))
            case .other(let name):
                throw Failure(description: "a value of type \(name)")
            }
        }
    }
}
