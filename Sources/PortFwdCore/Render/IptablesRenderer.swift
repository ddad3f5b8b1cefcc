/// Renders a plan as `iptables-restore --noflush` input, one per address family.
///
/// Only our own chains are written. With --noflush, declaring a user chain (`:NAME - [0:0]`)
/// empties it, so each input replaces the chains' whole contents, atomically per table.
/// The jumps into our chains from the built-in ones are kept by the iptables backend, because
/// keeping exactly one of each, in its place, depends on what is installed.
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
    /// mangle FORWARD, first: counts what enters the forward path (and tags hairpin).
    public static let count = "LIBVIRT_PORTFWD_CNT"
    /// mangle POSTROUTING: counts what left it, past every filter chain on the forward hook.
    public static let delivered = "LIBVIRT_PORTFWD_DLV"
    /// filter FORWARD: admission (the user chain, then the mark-scoped accept).
    public static let forward = "LIBVIRT_PORTFWD_FWD"
    /// The admin's chain, checked before our accept, which this tool creates and never
    /// fills, flushes or deletes while it holds rules (as Docker's DOCKER-USER).
    public static let user = "LIBVIRT_PORTFWD_USER"
    /// Our chains by table, in the order iptables-restore input declares them.
    public static let chains: [(table: String, chain: String)] = [("nat", pre), ("nat", out), ("nat", post), ("mangle", count),
                                                                   ("mangle", delivered), ("filter", forward)]
    /// The tables our chains live in, in input order.
    public static let tables = ["nat", "mangle", "filter"]
    /// libvirt names its bridges virbr0, virbr1, ...; iptables cannot compare the in- and
    /// out-interface, so hairpin is recognised as a connection from one such bridge to another.
    public static let bridgePattern = "virbr+"

    public init() {}

    /// The inputs `apply` feeds, as `export --backend iptables` prints them: one per family
    /// that has forwards (a family without any gets no chains).
    public func render(_ plan: Plan) -> String {
        let used = Family.allCases.filter { !plan.entries($0).isEmpty }
        if used.isEmpty { return "# no forwards: apply removes every chain of ours\n" }
        // The admin's chain is not declared: in restore input that would empty it.
        let user = plan.settings.admission == .none ? "" : "# \(Self.user), the admin's own chain, must exist (apply creates it, empty)\n"
        return used.map { family in "# \(family.iptables)-restore --noflush\n" + user + render(plan, family: family) }.joined(separator: "\n")
    }

    public func render(_ plan: Plan, family: Family) -> String {
        let rules = self.rules(plan, family: family)
        var text = ""
        for table in Self.tables {
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
        var pre: [String] = [], out: [String] = [], post: [String] = [], count: [String] = [], delivered: [String] = [], forward: [String] = []
        for e in entries { pre += dnat(e, family: family, mark: mark) }
        if s.hostAccess { out = pre }
        // Guests of an isolated libvirt network may reach nothing beyond it: no forward of ours
        // may become their way out through their bridge's host address.
        pre = plan.isolated.map { "-i \(InterfaceMatch.iptables($0)) -j RETURN" } + pre
        if s.hairpin {
            // The packet mark was set in LIBVIRT_PORTFWD_CNT for bridge-to-bridge connections of ours.
            post.append("-m mark --mark \(mark) -j MASQUERADE")
            count.append("-i \(Self.bridgePattern) -o \(Self.bridgePattern) -m conntrack --ctstate NEW -j MARK --set-xmark \(mark)")
        }
        // Counting rules, one per forward on each side (the jumps into both chains match our
        // mark). Delivery is counted in mangle POSTROUTING, after every filter chain on the
        // forward hook; the host's own connections to a forward pass there without having
        // been forwarded, and are not counted.
        delivered.append("-m addrtype --src-type LOCAL -j RETURN")
        for e in entries {
            count.append(Self.counting(ForwardKey(e), owner: e.owner))
            delivered.append(Self.counting(ForwardKey(e), owner: e.owner))
        }
        // Admission: our connections pass whatever other chains below would do to them, once
        // the admin's own chain has had its say. With admission = "none" the chain holds
        // only the comment, and the verdict is left to the rest.
        if s.admission != .none {
            forward.append("-m connmark --mark \(mark) -j \(Self.user)")
            forward.append("-m connmark --mark \(mark) -j ACCEPT")
        }
        var chains = [Self.pre: pre, Self.out: out, Self.post: post, Self.count: count, Self.delivered: delivered, Self.forward: forward]
        // Which plan these chains hold, first in the forward chain (a rule without a target
        // only matches): a digest of the rules this plan gives them, taken here from the
        // rules themselves rather than from another backend's text.
        chains[Self.forward]!.insert("-m comment --comment \"\(Self.fingerprint(of: chains).comment)\"", at: 0)
        return chains
    }

    /// FNV-1a over every rule of every chain, in declaration order, each ended by a newline.
    static func fingerprint(of chains: [String: [String]]) -> Fingerprint {
        var digest = Fingerprint.Digest()
        for (_, chain) in Self.chains {
            digest.add(chain + "\n")
            for rule in chains[chain] ?? [] { digest.add(rule + "\n") }
        }
        return digest.fingerprint
    }

    /// The rule that counts a forward's packets, both directions, by its connections' original
    /// destination, as iptables-save prints it: how the backend finds a forward's counters in
    /// a save, by equal text. The owner's comment makes another guest's forward on the same
    /// port another rule, which starts from zero.
    public static func counting(_ key: ForwardKey, owner: String) -> String {
        let ports = key.hostPorts.lower == key.hostPorts.upper ? "\(key.hostPorts.lower)" : "\(key.hostPorts.lower):\(key.hostPorts.upper)"
        let address = key.hostAddress.map { "--ctorigdst \($0) " } ?? ""
        return "-p \(key.proto.rawValue) -m conntrack \(address)--ctorigdstport \(ports) -m comment --comment \(owner) -j RETURN"
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
