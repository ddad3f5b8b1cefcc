import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif
import PortFwdCore

/// iptables comes in two kernels' worth: nf_tables and the old x_tables ("legacy").
public enum IptablesFlavour: String, Sendable, Hashable, CaseIterable, Codable {
    case nft, legacy
}

/// One iptables flavour in one address family: the only code that runs iptables-save and
/// iptables-restore. The iptables backend and admission both drive it, sharing its saves.
public struct Iptables: Sendable, Hashable, CustomStringConvertible {
    public let flavour: IptablesFlavour
    public let family: Family
    let commands: CommandRunner
    /// Where /proc/net/ip_tables_names lives; tests point it at a namespace's.
    let procNet: String

    public init(_ flavour: IptablesFlavour, _ family: Family, commands: CommandRunner, procNet: String) {
        self.flavour = flavour
        self.family = family
        self.commands = commands
        self.procNet = procNet
    }

    public static func == (a: Iptables, b: Iptables) -> Bool { a.flavour == b.flavour && a.family == b.family }
    public func hash(into hasher: inout Hasher) { hasher.combine(flavour); hasher.combine(family) }

    /// `iptables-nft`, `ip6tables-legacy`, ...
    public var tool: String { "\(family.iptables)-\(flavour.rawValue)" }
    public var description: String { tool }

    /// The tables this flavour has loaded, or nil for nft, whose tables are nftables tables
    /// (asked through libnftables instead). Asking iptables-legacy about a table that is not
    /// loaded would load it, so its list comes from /proc.
    public func loadedLegacyTables() -> [String]? {
        guard flavour == .legacy else { return nil }
        let file = "\(procNet)/\(family.legacyTablesFile)"
        return (SafeFile.kernelText(file) ?? "").split(separator: "\n").map(String.init)
    }

    /// Whether saving `table` (nil: every table) can say anything without creating tables.
    public func hasTables(_ table: String? = nil) -> Bool {
        guard let loaded = loadedLegacyTables() else { return true }
        return table.map { loaded.contains($0) } ?? !loaded.isEmpty
    }

    /// The current rules of `table` (nil: every loaded table), parsed.
    public func save(table: String? = nil, counters: Bool = false) throws(PortFwdError) -> IptablesRuleset {
        guard hasTables(table) else { return IptablesRuleset() }
        let argv = ["\(tool)-save"] + (table.map { ["-t", $0] } ?? []) + (counters ? ["-c"] : [])
        let result = try commands.run(argv, input: nil)
        guard result.status == 0 else { throw PortFwdError(.io, "\(tool)-save failed: \(result.reason)") }
        return IptablesRuleset(parsing: result.stdout)
    }

    /// Feeds `input` to iptables-restore --noflush; each table in it commits atomically.
    /// Rules written with their counters (`[packets:bytes] -A ...`) start from them.
    public func restore(_ input: IptablesInput, test: Bool) throws(PortFwdError) {
        let argv = ["\(tool)-restore", "-w", "--noflush"] + (input.counted ? ["--counters"] : []) + (test ? ["--test"] : [])
        let result = try commands.run(argv, input: input.text)
        guard result.status == 0 else { throw PortFwdError(.refused, "\(tool)-restore refused the rules: \(result.reason)") }
    }
}

/// One rule as a typed value that can add, insert and remove itself, instead of `-D` lines
/// built by editing `-A` lines. `spec` is everything after `-A CHAIN `, as iptables-save prints it.
public struct IptablesRule: Hashable, Sendable, CustomStringConvertible {
    public let table: String
    public let chain: String
    public let spec: String

    public init(table: String, chain: String, spec: String) {
        self.table = table
        self.chain = chain
        self.spec = spec
    }

    public var description: String { "-A \(chain) \(spec)" }
}

/// iptables-save output, parsed: each table's chains (with policies) and rules in order.
public struct IptablesRuleset: Sendable, Equatable {
    public struct Table: Sendable, Equatable {
        /// Chain name to policy (`ACCEPT`, `DROP`, or `-` for user chains).
        public var chains: [String: String] = [:]
        public var rules: [IptablesRule] = []
        /// With `save(counters: true)`: each rule's packets and bytes, by index into `rules`.
        public var counters: [Int: Counts] = [:]

        public static func == (a: Table, b: Table) -> Bool { a.chains == b.chains && a.rules == b.rules }

        public func rules(in chain: String) -> [IptablesRule] { rules.filter { $0.chain == chain } }
    }

    public var tables: [String: Table] = [:]

    public init() {}

    public init(parsing text: String) {
        var current: String?
        for line in text.split(separator: "\n") {
            if line.hasPrefix("*") {
                current = String(line.dropFirst())
                tables[current!] = Table()
            } else if let table = current, line.hasPrefix(":") {
                let words = line.dropFirst().split(separator: " ")
                if words.count >= 2 { tables[table]!.chains[String(words[0])] = String(words[1]) }
            } else if let table = current, line.hasPrefix("-A ") || line.hasPrefix("[") {
                // With -c, each rule starts with its counters: [packets:bytes] -A ...
                let rule = line.hasPrefix("[") ? line.drop { $0 != "-" } : line[...]
                let words = rule.split(separator: " ", maxSplits: 2)
                guard words.count == 3 else { continue }
                if line.hasPrefix("[") {
                    let counts = line.dropFirst().prefix { $0 != "]" }.split(separator: ":").compactMap { UInt64($0) }
                    if counts.count == 2 { tables[table]!.counters[tables[table]!.rules.count] = Counts(packets: counts[0], bytes: counts[1]) }
                }
                tables[table]!.rules.append(IptablesRule(table: table, chain: String(words[1]), spec: String(words[2])))
            }
        }
    }

    public subscript(table: String) -> Table { tables[table] ?? Table() }
}

/// iptables-restore input built line by line, grouped by table: `*table ... COMMIT`.
public struct IptablesInput: Sendable, Equatable {
    /// In the order they were added; `text` groups them by table, in the order each table
    /// first appeared.
    public private(set) var operations: [IptablesOperation] = []

    public init(_ operations: [IptablesOperation] = []) { self.operations = operations }

    public mutating func add(_ operation: IptablesOperation) { operations.append(operation) }

    public mutating func add(_ other: IptablesInput) { operations += other.operations }

    /// Whether some rule carries its counters, which iptables-restore reads only with --counters.
    public var counted: Bool { operations.contains(where: \.carriesCounts) }

    public var isEmpty: Bool { operations.isEmpty }

    /// The tables the input touches, in order.
    public var tables: [String] {
        var seen: Set<String> = []
        return operations.map(\.table).filter { seen.insert($0).inserted }
    }

    /// The part of the input for one table: a restore of it commits atomically.
    public func only(_ table: String) -> IptablesInput { IptablesInput(operations.filter { $0.table == table }) }

    public var text: String {
        tables.map { table in "*\(table)\n" + operations.filter { $0.table == table }.map { $0.line + "\n" }.joined() + "COMMIT\n" }.joined()
    }
}
