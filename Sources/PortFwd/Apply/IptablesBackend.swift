import Foundation

/// The alternate strategy: the same plan as iptables rules in chains of our own, for hosts that
/// cannot or will not use our nftables table. Each family's chains are refilled by one
/// `iptables-restore --noflush` per table after a `--test` pass of both families, so a bad input
/// changes nothing; jumps into our chains are ensured idempotently, first in their chains.
public struct IptablesBackend: FirewallBackend {
    public let name = "iptables"
    let commands: CommandRunner
    let admission: Admission
    /// nil: the flavour libvirt's LIBVIRT_* chains live in, else nft.
    let flavorOverride: IptablesFlavor?
    let procNet: String
    let renderer = IptablesRenderer()

    public init(commands: CommandRunner, admission: Admission, flavor: IptablesFlavor? = nil, procNet: String = "/proc/net") {
        self.commands = commands
        self.admission = admission
        self.flavorOverride = flavor
        self.procNet = procNet
    }

    /// Where each jump goes: table, built-in chain, our chain, and what the jump matches.
    struct Jump: Sendable {
        let table: String
        let builtin: String
        let chain: String
        let match: @Sendable (Family) -> String

        func line(_ family: Family) -> String {
            let m = match(family)
            return "-A \(builtin) \(m.isEmpty ? "" : m + " ")-m comment --comment \(Admission.comment) -j \(chain)"
        }
    }

    static let jumps = [
        Jump(table: "nat", builtin: "PREROUTING", chain: IptablesRenderer.pre) { _ in "-m addrtype --dst-type LOCAL" },
        // Loopback is left alone: DNAT from 127.0.0.1 to a guest would be dropped as martian.
        Jump(table: "nat", builtin: "OUTPUT", chain: IptablesRenderer.out) { $0 == .ipv4 ? "! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL" : "! -d ::1/128 -m addrtype --dst-type LOCAL" },
        Jump(table: "nat", builtin: "POSTROUTING", chain: IptablesRenderer.post) { _ in "" },
        Jump(table: "filter", builtin: "FORWARD", chain: IptablesRenderer.forward) { _ in "" },
    ]

    public func render(_ plan: Plan) -> String { renderer.render(plan) }

    public func flavor() throws(FirewallError) -> IptablesFlavor {
        if let flavorOverride { return flavorOverride }
        // libvirt's chains in legacy tables mean libvirt runs iptables-legacy: follow it.
        if loaded(.legacy, .ipv4), try save(.legacy, .ipv4, table: "filter").contains(":LIBVIRT_") { return .legacy }
        return .nft
    }

    public func apply(_ plan: Plan) throws(FirewallError) -> [String] {
        let flavor = try flavor()
        // A family without forwards gets no chains at all (and loses any it had), so an
        // IPv4-only host never grows ip6tables tables of ours.
        let used = Family.allCases.filter { !plan.entries($0).isEmpty }
        // One save per family feeds the jump fixes, which then commit together with the
        // chains: one restore per family, where separate steps cost a process each.
        var inputs: [(Family, String)] = []
        for family in used {
            let fixes = jumpFixes(Self.tables(try save(flavor, family, table: nil)), family)
            inputs.append((family, Self.inserting(fixes, into: renderer.render(plan, family: family))))
        }
        // Check both families before committing either: a refusal then changes nothing at all.
        for (family, input) in inputs { try restore(flavor, family, input, test: true) }
        for (family, input) in inputs { try restore(flavor, family, input, test: false) }
        for family in Family.allCases where !used.contains(family) && loaded(flavor, family) {
            try removeChains(flavor, family)
        }
        // Our FORWARD chain admits our connections in this flavour; other places (the other
        // flavour, libvirt's own nftables tables) still get a mark-scoped rule where needed.
        let ours = Set(Family.allCases.map { Admission.Place.iptables(flavor, $0) })
        let places = try admission.ensure(excluding: ours)
        return ["chains in \(flavor.tool(.ipv4))/\(flavor.tool(.ipv6))"] + places.map { "admission rule in \($0)" }
    }

    public func validate(_ plan: Plan) throws(FirewallError) {
        let flavor = try flavor()
        for family in Family.allCases where !plan.entries(family).isEmpty {
            try restore(flavor, family, renderer.render(plan, family: family), test: true)
        }
    }

    public func remove() throws(FirewallError) {
        var errors: [String] = []
        do { try removeOwnRules() } catch { errors.append(error.message) }
        do { try admission.removeAll() } catch { errors.append(error.message) }
        if !errors.isEmpty { throw FirewallError(errors.joined(separator: "; ")) }
    }

    /// Removes jumps and chains in every flavour and family where they exist.
    public func removeOwnRules() throws(FirewallError) {
        var errors: [String] = []
        for flavor in IptablesFlavor.allCases {
            for family in Family.allCases where loaded(flavor, family) {
                do { try removeChains(flavor, family) } catch { errors.append(error.message) }
            }
        }
        if !errors.isEmpty { throw FirewallError(errors.joined(separator: "; ")) }
    }

    public func counters() throws(FirewallError) -> [EndpointCounter]? {
        let flavor = try flavor()
        var result: [EndpointCounter] = []
        var found = false
        for family in Family.allCases where loaded(flavor, family) {
            let lines = try save(flavor, family, table: "filter", counters: true).split(separator: "\n")
            found = found || lines.contains { $0.hasPrefix(":\(IptablesRenderer.forward) ") }
            result += Self.counters(lines.map(String.init))
        }
        return found ? Self.merge(result) : nil
    }

    // MARK: - pieces

    /// Whether this flavour has tables in this network namespace. For legacy, asking
    /// iptables-legacy would load the x_tables modules, so read /proc instead.
    func loaded(_ flavor: IptablesFlavor, _ family: Family) -> Bool {
        flavor == .nft || !legacyTables(family).isEmpty
    }

    /// Asking iptables-legacy about a table that is not there creates it, so look in /proc first.
    func tableLoaded(_ flavor: IptablesFlavor, _ family: Family, _ table: String) -> Bool {
        flavor == .nft || legacyTables(family).contains(Substring(table))
    }

    private func legacyTables(_ family: Family) -> [Substring] {
        let file = "\(procNet)/\(family == .ipv4 ? "ip_tables_names" : "ip6_tables_names")"
        return ((try? String(contentsOfFile: file, encoding: .utf8)) ?? "").split(separator: "\n")
    }

    /// `table` nil: every table the flavour has loaded, in one run.
    func save(_ flavor: IptablesFlavor, _ family: Family, table: String?, counters: Bool = false) throws(FirewallError) -> String {
        if let table { guard tableLoaded(flavor, family, table) else { return "" } } else { guard loaded(flavor, family) else { return "" } }
        let result: CommandResult
        do { result = try commands.run([flavor.save(family)] + (table.map { ["-t", $0] } ?? []) + (counters ? ["-c"] : []), input: nil) } catch {
            throw FirewallError(error.message)
        }
        guard result.status == 0 else {
            throw FirewallError("\(flavor.save(family)) failed: \(result.stderr.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        return result.stdout
    }

    /// iptables-save output split by table: each table's lines without `*table` and COMMIT.
    static func tables(_ save: String) -> [String: [String]] {
        var result: [String: [String]] = [:]
        var current: String?
        for line in save.split(separator: "\n") {
            if line.hasPrefix("*") {
                current = String(line.dropFirst())
                result[current!] = []
            } else if let table = current, line != "COMMIT" {
                result[table]!.append(String(line))
            }
        }
        return result
    }

    /// Puts each table's extra lines just before that table's COMMIT in restore input.
    static func inserting(_ extra: [String: String], into input: String) -> String {
        var out = ""
        var current = ""
        for line in input.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("*") { current = String(line.dropFirst()) }
            if line == "COMMIT" { out += extra[current] ?? "" }
            out += line + "\n"
        }
        return String(out.dropLast())
    }

    func restore(_ flavor: IptablesFlavor, _ family: Family, _ input: String, test: Bool) throws(FirewallError) {
        let result: CommandResult
        do { result = try commands.run([flavor.restore(family), "-w", "--noflush"] + (test ? ["--test"] : []), input: input) } catch {
            throw FirewallError(error.message)
        }
        guard result.status == 0 else {
            throw FirewallError("\(flavor.restore(family)) refused the rules, nothing changed: \(result.stderr.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
    }

    /// Exactly one jump per built-in chain, first in it; moved back up if something got above
    /// it. Returns restore lines per table, empty where the jumps are already right.
    private func jumpFixes(_ tables: [String: [String]], _ family: Family) -> [String: String] {
        var result: [String: String] = [:]
        for table in ["nat", "filter"] {
            let lines = tables[table] ?? []
            var fixes = ""
            for jump in Self.jumps where jump.table == table {
                let rules = lines.filter { $0.hasPrefix("-A \(jump.builtin) ") }
                let existing = rules.filter { $0.hasSuffix("-j \(jump.chain)") }
                let expected = jump.line(family)
                guard !(existing.count == 1 && rules.first == expected) else { continue }
                for line in existing { fixes += "-D" + line.dropFirst(2) + "\n" }
                fixes += "-I \(jump.builtin) 1" + expected.dropFirst(3 + jump.builtin.count) + "\n"
            }
            if !fixes.isEmpty { result[table] = fixes }
        }
        return result
    }

    private func removeChains(_ flavor: IptablesFlavor, _ family: Family) throws(FirewallError) {
        var input = ""
        let tables = Self.tables(try save(flavor, family, table: nil))
        for table in ["nat", "filter"] {
            let lines = tables[table] ?? []
            let chains = Self.jumps.filter { $0.table == table }.map(\.chain).filter { c in lines.contains { $0.hasPrefix(":\(c) ") } }
            let jumps = lines.filter { line in Self.jumps.contains { line.hasPrefix("-A \($0.builtin) ") && line.hasSuffix("-j \($0.chain)") } }
            guard !chains.isEmpty || !jumps.isEmpty else { continue }
            input += "*\(table)\n"
            for line in jumps { input += "-D" + line.dropFirst(2) + "\n" }
            for chain in chains { input += "-F \(chain)\n-X \(chain)\n" }
            input += "COMMIT\n"
        }
        if !input.isEmpty { try restore(flavor, family, input, test: false) }
    }

    /// Reads the counting rules of LIBVIRT_PORTFWD_FWD from `iptables-save -c` lines.
    static func counters(_ lines: [String]) -> [EndpointCounter] {
        lines.compactMap { line in
            guard line.hasPrefix("["), line.contains("-A \(IptablesRenderer.forward) "), !line.contains(" -j ") else { return nil }
            let words = line.split(separator: " ").map(String.init)
            let counts = words[0].dropFirst().dropLast().split(separator: ":").compactMap { UInt64($0) }
            func value(after flag: String) -> String? { words.firstIndex(of: flag).flatMap { $0 + 1 < words.count ? words[$0 + 1] : nil } }
            guard counts.count == 2, let proto = value(after: "-p"),
                  let address = value(after: "-d") ?? value(after: "-s"),
                  let ports = value(after: "--dport") ?? value(after: "--sport") else { return nil }
            return EndpointCounter(address: String(address.split(separator: "/")[0]), proto: proto,
                                   ports: ports.replacingOccurrences(of: ":", with: "-"), packets: counts[0], bytes: counts[1])
        }
    }

    /// Both directions of one endpoint add up to one counter, as in the nftables backend.
    static func merge(_ counters: [EndpointCounter]) -> [EndpointCounter] {
        var order: [String] = []
        var sums: [String: EndpointCounter] = [:]
        for c in counters {
            let key = "\(c.address) \(c.proto) \(c.ports)"
            if let s = sums[key] {
                sums[key] = EndpointCounter(address: c.address, proto: c.proto, ports: c.ports, packets: s.packets + c.packets, bytes: s.bytes + c.bytes)
            } else {
                order.append(key)
                sums[key] = c
            }
        }
        return order.map { sums[$0]! }
    }
}
