/// Renders a plan as `iptables-restore --noflush` input, one per address family.
///
/// Only our own chains are written. With --noflush, declaring a user chain (`:NAME - [0:0]`)
/// empties it, so each input replaces the chains' whole contents, atomically per table.
/// The jumps into our chains from the built-in ones are kept by the iptables backend, because
/// keeping exactly one of each, first, depends on what is installed.
///
/// Every rule is written exactly as iptables-save prints it back, so `status` can compare the
/// installed chains with the plan line by line.
///
/// Unlike the nftables table, these are plain rule lists: each forward costs rules in
/// LIBVIRT_PORTFWD_PRE (and _OUT), so per-packet cost grows with the number of forwards.
/// Ranges use DNAT's offset-preserving form (`ip:9000-9010/8000`, NAT target revision 2,
/// Linux >= 4.19), one rule per range.
public struct IptablesRenderer: Sendable {
    public static let pre = "LIBVIRT_PORTFWD_PRE"
    public static let out = "LIBVIRT_PORTFWD_OUT"
    public static let post = "LIBVIRT_PORTFWD_POST"
    public static let forward = "LIBVIRT_PORTFWD_FWD"
    /// Our chains by table, in the order iptables-restore input declares them.
    public static let chains: [(table: String, chain: String)] = [("nat", pre), ("nat", out), ("nat", post), ("filter", forward)]
    /// libvirt names its bridges virbr0, virbr1, ...; iptables cannot compare the in- and
    /// out-interface, so hairpin is recognised as a connection from one such bridge to another.
    public static let bridgePattern = "virbr+"

    public init() {}

    /// The inputs `apply` feeds, as `export --backend iptables` prints them: one per family
    /// that has forwards (a family without any gets no chains).
    public func render(_ plan: Plan) -> String {
        let used = Family.allCases.filter { !plan.entries($0).isEmpty }
        if used.isEmpty { return "# no forwards: apply removes every chain of ours\n" }
        return used.map { family in "# \(family.iptables)-restore --noflush\n" + render(plan, family: family) }.joined(separator: "\n")
    }

    public func render(_ plan: Plan, family: Family) -> String {
        let rules = self.rules(plan, family: family)
        var text = ""
        for table in ["nat", "filter"] {
            text += "*\(table)\n"
            for (t, chain) in Self.chains where t == table { text += ":\(chain) - [0:0]\n" }
            for (t, chain) in Self.chains where t == table {
                for rule in rules[chain] ?? [] { text += "-A \(chain) \(rule)\n" }
            }
            text += "COMMIT\n"
        }
        return text
    }

    /// The rules of each of our chains, without `-A CHAIN `, in order.
    public func rules(_ plan: Plan, family: Family) -> [String: [String]] {
        let s = plan.settings
        let mark = "\(s.mark)/\(s.mark)"
        let entries = plan.entries(family)
        var pre: [String] = [], out: [String] = [], post: [String] = [], forward: [String] = []
        for e in entries { pre += dnat(e, family: family, mark: mark) }
        if s.hostAccess { out = pre }
        // Guests of an isolated libvirt network may reach nothing beyond it: no forward of ours
        // may become their way out through their bridge's host address.
        pre = plan.isolated.map { "-i \($0) -j RETURN" } + pre
        if s.hairpin {
            // The packet mark was set in LIBVIRT_PORTFWD_FWD for bridge-to-bridge connections of ours.
            post.append("-m mark --mark \(mark) -j MASQUERADE")
        }
        // Which plan these chains hold; a rule without a target only matches.
        forward.append("-m comment --comment \"\(NftRenderer().fingerprint(plan).comment)\"")
        if s.hairpin {
            forward.append("-i \(Self.bridgePattern) -o \(Self.bridgePattern) -m connmark --mark \(mark) -m conntrack --ctstate NEW -j MARK --set-xmark \(mark)")
        }
        // Counting rules, one per direction and guest endpoint (no target: they only count).
        for c in Counted.endpoints(entries) { forward += Self.counting(c.endpoint, mark: s.mark) }
        // Admission: our connections pass whatever libvirt's chains below would do to them.
        // With admission = "none" the chain only counts, and the verdict is left to the rest.
        if s.admission != .none { forward.append("-m connmark --mark \(mark) -j ACCEPT") }
        return [Self.pre: pre, Self.out: out, Self.post: post, Self.forward: forward]
    }

    /// The two rules that count an endpoint, original direction then reply, as iptables-save
    /// prints them: how the backend finds an endpoint's counters in a save, by equal text,
    /// without reading rule text back.
    public static func counting(_ endpoint: Endpoint, mark: Mark) -> [String] {
        let ports = endpoint.ports.lower == endpoint.ports.upper ? "\(endpoint.ports.lower)" : "\(endpoint.ports.lower):\(endpoint.ports.upper)"
        let p = endpoint.proto.rawValue, host = "\(endpoint.address)/\(endpoint.address.bitWidth)", connmark = "-m connmark --mark \(mark)/\(mark)"
        return ["-d \(host) -p \(p) -m \(p) --dport \(ports) \(connmark)", "-s \(host) -p \(p) -m \(p) --sport \(ports) \(connmark)"]
    }

    /// Two rules per entry and source: tag the connection, then DNAT it. Both match alike,
    /// so the mark is set exactly when the DNAT happens.
    private func dnat(_ e: PlanEntry, family: Family, mark: String) -> [String] {
        let p = e.proto.rawValue
        let ports = e.hostPorts.lower == e.hostPorts.upper ? "\(e.hostPorts.lower)" : "\(e.hostPorts.lower):\(e.hostPorts.upper)"
        let target = family.bracketed(e.guestAddress)
        var to = "\(target):\(e.guestPorts.lower)"
        if e.guestPorts.count > 1 { to = "\(target):\(e.guestPorts.lower)-\(e.guestPorts.upper)/\(e.hostPorts.lower)" }
        return e.sources.flatMap { source -> [String] in
            var match = ""
            if source.prefix != 0 { match += "-s \(source) " }
            if let address = e.hostAddress { match += "-d \(address)/\(family.bits) " }
            match += "-p \(p) -m \(p) --dport \(ports)"
            return ["\(match) -j CONNMARK --set-xmark \(mark)", "\(match) -j DNAT --to-destination \(to)"]
        }
    }
}
