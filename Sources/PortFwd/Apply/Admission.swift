import Foundation

/// Lets our DNATed connections through firewalls that would reject or drop them after DNAT.
///
/// In nftables a packet must pass every base chain on a hook, so an accept in our own table
/// cannot override libvirt's `reject`. What works is one rule, in the other firewall's own
/// chain, that accepts exactly the connections carrying our ct mark bit:
///   iptables:          -I FORWARD 1 -m connmark --mark M/M -m comment --comment libvirt-portfwd -j ACCEPT
///   libvirt >= 10.4:   insert rule ip libvirt_network guest_input ct mark & M == M counter accept
/// Each place holds exactly one such rule, first in its chain; `ensure` converges to that.
public struct Admission: Sendable {
    public static let comment = "libvirt-portfwd"

    public enum Place: Hashable, Sendable, CustomStringConvertible {
        case iptables(IptablesFlavor, Family)
        case libvirtNftables(Family)

        public var description: String {
            switch self {
            case .iptables(let flavor, let family): return "\(flavor.tool(family)) FORWARD"
            case .libvirtNftables(let family): return "\(family == .ipv4 ? "ip" : "ip6") libvirt_network guest_input"
            }
        }
    }

    /// nil where libnftables cannot reach the kernel: then only iptables places are surveyed.
    let nft: NftablesRunner?
    let commands: CommandRunner
    let mark: Mark
    let mode: Settings.AdmissionMode
    /// Where /proc/net/ip_tables_names lives; tests point it elsewhere.
    let procNet: String

    public init(nft: NftablesRunner?, commands: CommandRunner, mark: Mark, mode: Settings.AdmissionMode, procNet: String = "/proc/net") {
        self.nft = nft
        self.commands = commands
        self.mark = mark
        self.mode = mode
        self.procNet = procNet
    }

    /// Puts exactly one admission rule at the top of every place that needs one, and removes
    /// ours from places that no longer do. Returns the places now holding the rule.
    /// `excluding`: places another mechanism already covers (the iptables backend's own chain).
    /// `survey`: one taken earlier by the caller (see NftablesBackend.apply).
    @discardableResult
    public func ensure(survey taken: [Spot]? = nil, excluding: Set<Place> = []) throws(FirewallError) -> [Place] {
        let all: [Spot]
        if let taken { all = taken } else { all = try self.survey() }
        let survey = all.filter { !excluding.contains($0.place) }
        var errors: [String] = []
        var held: [Place] = []
        for spot in survey {
            let wanted = wants(spot, in: survey)
            do {
                if wanted {
                    try assert(spot)
                    held.append(spot.place)
                } else if !spot.ours.isEmpty {
                    try clear(spot)
                }
            } catch {
                errors.append("admission in \(spot.place): \(error.message)")
            }
        }
        if !errors.isEmpty { throw FirewallError(errors.joined(separator: "; ")) }
        return held
    }

    /// Removes every admission rule of ours, wherever it is.
    public func removeAll() throws(FirewallError) {
        var errors: [String] = []
        for spot in try survey() where !spot.ours.isEmpty {
            do { try clear(spot) } catch { errors.append("admission in \(spot.place): \(error.message)") }
        }
        if !errors.isEmpty { throw FirewallError(errors.joined(separator: "; ")) }
    }

    // MARK: - survey

    /// What one place looks like now.
    public struct Spot: Sendable {
        let place: Place
        /// A libvirt chain or a drop policy makes it reject our traffic.
        let obstructs: Bool
        /// Our rules there: iptables-save lines, or nft rule handles.
        let ours: [String]
        /// Exactly one of ours, first in the chain, with the current mark.
        let correct: Bool
    }

    public func survey() throws(FirewallError) -> [Spot] {
        var spots: [Spot] = []
        for family in Family.allCases {
            let ip = family == .ipv4 ? "ip" : "ip6"
            if let spot = try libvirtSpot(family) { spots.append(spot) }
            if nftHasChain("\(ip) filter FORWARD") {
                if let spot = try iptablesSpot(.nft, family) { spots.append(spot) }
            }
            let names = (try? String(contentsOfFile: "\(procNet)/\(family == .ipv4 ? "ip_tables_names" : "ip6_tables_names")", encoding: .utf8)) ?? ""
            if names.split(separator: "\n").contains("filter") {
                if let spot = try iptablesSpot(.legacy, family) { spots.append(spot) }
            }
        }
        return spots
    }

    private func wants(_ spot: Spot, in survey: [Spot]) -> Bool {
        switch (mode, spot.place) {
        case (.none, _): return false
        case (.auto, _): return spot.obstructs
        case (.libvirtNftables, .libvirtNftables): return true
        case (.libvirtNftables, .iptables): return false
        case (.iptables, .libvirtNftables): return false
        case (.iptables, .iptables(let flavor, let family)):
            // Forced: the flavour libvirt uses, else whichever has a filter table (nft first).
            let candidates = survey.compactMap { s -> (IptablesFlavor, Bool)? in
                if case .iptables(let f, family) = s.place { return (f, s.obstructs) }
                return nil
            }
            let chosen = candidates.first { $0.1 }?.0 ?? candidates.first?.0
            return flavor == chosen
        }
    }

    /// Whether iptables-nft's chain exists. Asked chain by chain, never with `list tables`:
    /// libnftables 1.0.6 answers that by fetching every table whole, set elements included,
    /// which costs 150 ms once our table holds 10,000 forwards. A chain listing fetches only
    /// its own table.
    private func nftHasChain(_ chain: String) -> Bool {
        guard let nft else { return false }
        do { _ = try nft.run("list chain \(chain)", json: false, dryRun: false) } catch { return false }
        return true
    }

    // MARK: - iptables

    private func expectedLine() -> String {
        "-A FORWARD -m connmark --mark \(mark)/\(mark) -m comment --comment \(Self.comment) -j ACCEPT"
    }

    private func iptablesSpot(_ flavor: IptablesFlavor, _ family: Family) throws(FirewallError) -> Spot? {
        let result: CommandResult
        do { result = try commands.run([flavor.save(family), "-t", "filter"], input: nil) } catch {
            throw FirewallError(error.message)
        }
        guard result.status == 0 else {
            throw FirewallError("\(flavor.save(family)) failed: \(result.stderr.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        let lines = result.stdout.split(separator: "\n").map(String.init)
        guard lines.contains(where: { $0.hasPrefix(":FORWARD ") }) else { return nil }
        let forwardRules = lines.filter { $0.hasPrefix("-A FORWARD ") }
        let ours = forwardRules.filter { Self.isOurs($0) }
        let libvirt = lines.contains { $0.hasPrefix(":LIBVIRT_FW") }
        let dropPolicy = lines.contains { $0.hasPrefix(":FORWARD DROP") }
        let correct = ours.count == 1 && forwardRules.first == expectedLine()
        return Spot(place: .iptables(flavor, family), obstructs: libvirt || dropPolicy, ours: ours, correct: correct)
    }

    static func isOurs(_ line: String) -> Bool {
        line.hasSuffix("--comment \(comment) -j ACCEPT") || line.contains("--comment \(comment) ")
    }

    // MARK: - libvirt's own nftables tables

    private func libvirtSpot(_ family: Family) throws(FirewallError) -> Spot? {
        let ip = family == .ipv4 ? "ip" : "ip6"
        guard let nft else { return nil }
        let output: String
        do { output = try nft.run("list chain \(ip) libvirt_network guest_input", json: true, dryRun: false) } catch {
            return nil  // no guest_input chain: nothing of libvirt's to get past here
        }
        guard let rules = try? NftJSON.rules(output) else {
            throw FirewallError("cannot read \(ip) libvirt_network guest_input")
        }
        let ours = rules.filter { $0.comment?.hasPrefix(Self.comment) == true }
        let correct = ours.count == 1 && rules.first?.comment == libvirtComment
        return Spot(place: .libvirtNftables(family), obstructs: true, ours: ours.map { String($0.handle) }, correct: correct)
    }

    /// The mark is part of the comment, so a changed mark is seen as a rule to replace.
    private var libvirtComment: String { "\(Self.comment) mark \(mark)" }

    // MARK: - fixing a place

    private func assert(_ spot: Spot) throws(FirewallError) {
        guard !spot.correct else { return }
        switch spot.place {
        case .iptables(let flavor, let family):
            var input = "*filter\n"
            for line in spot.ours { input += "-D" + line.dropFirst(2) + "\n" }
            input += "-I FORWARD 1" + expectedLine().dropFirst("-A FORWARD".count) + "\n"
            input += "COMMIT\n"
            try restore(flavor, family, input)
        case .libvirtNftables(let family):
            let ip = family == .ipv4 ? "ip" : "ip6"
            var script = spot.ours.map { "delete rule \(ip) libvirt_network guest_input handle \($0)\n" }.joined()
            script += "insert rule \(ip) libvirt_network guest_input ct mark & \(mark) == \(mark) counter accept comment \"\(libvirtComment)\"\n"
            do { _ = try nft?.run(script, json: false, dryRun: false) } catch { throw FirewallError(error.message) }
        }
    }

    private func clear(_ spot: Spot) throws(FirewallError) {
        switch spot.place {
        case .iptables(let flavor, let family):
            let input = "*filter\n" + spot.ours.map { "-D" + $0.dropFirst(2) + "\n" }.joined() + "COMMIT\n"
            try restore(flavor, family, input)
        case .libvirtNftables(let family):
            let ip = family == .ipv4 ? "ip" : "ip6"
            let script = spot.ours.map { "delete rule \(ip) libvirt_network guest_input handle \($0)\n" }.joined()
            do { _ = try nft?.run(script, json: false, dryRun: false) } catch { throw FirewallError(error.message) }
        }
    }

    private func restore(_ flavor: IptablesFlavor, _ family: Family, _ input: String) throws(FirewallError) {
        let result: CommandResult
        do { result = try commands.run([flavor.restore(family), "-w", "--noflush"], input: input) } catch {
            throw FirewallError(error.message)
        }
        guard result.status == 0 else {
            throw FirewallError("\(flavor.restore(family)) failed: \(result.stderr.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
    }
}

/// iptables comes in two kernels' worth: nf_tables and the old x_tables ("legacy").
public enum IptablesFlavor: String, Sendable, Hashable, CaseIterable, Codable {
    case nft, legacy

    func tool(_ family: Family) -> String { "\(family == .ipv4 ? "iptables" : "ip6tables")-\(rawValue)" }
    func save(_ family: Family) -> String { "\(family == .ipv4 ? "iptables" : "ip6tables")-\(rawValue)-save" }
    func restore(_ family: Family) -> String { "\(family == .ipv4 ? "iptables" : "ip6tables")-\(rawValue)-restore" }
}
