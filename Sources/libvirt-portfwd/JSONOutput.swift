import FoundationEssentials

/// The tool's JSON on standard output: indented, keys sorted, and `/` written as `/` (a
/// network's `203.0.113.0/24`, a path), not the `\/` JSONEncoder writes by default.
enum JSONOutput {
    static func text(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}
