/// Renders a plan as `iptables-restore --noflush` input, one per address family.
///
/// Only our own chains are written. With --noflush, declaring a user chain (`:NAME - [0:0]`)
/// empties it, so each input replaces the chains' whole contents, atomically per table.
/// The jumps into our chains from the built-in ones are ensured separately (IptablesBackend),
/// because keeping exactly one of each depends on what is installed.
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
    /// libvirt names its bridges virbr0, virbr1, ...; iptables cannot compare the in- and
    /// out-interface, so hairpin is recognised as a connection from one such bridge to another.
    public static let bridgePattern = "virbr+"

    public init() {}

    /// The inputs `apply` feeds, as `export --backend iptables` prints them: one per family
    /// that has forwards (a family without any gets no chains).
    public func render(_ plan: Plan) -> String {
        let used = Family.allCases.filter { !plan.entries($0).isEmpty }
        if used.isEmpty { return "# no forwards: apply removes every chain of ours\n" }
        return used.map { family in
            "# \(family == .ipv4 ? "iptables" : "ip6tables")-restore --noflush\n" + render(plan, family: family)
        }.joined(separator: "\n")
    }

    public func render(_ plan: Plan, family: Family) -> String {
        let s = plan.settings
        let mark = "\(s.mark)/\(s.mark)"
        let entries = plan.entries(family)
        var nat = "*nat\n:\(Self.pre) - [0:0]\n:\(Self.out) - [0:0]\n:\(Self.post) - [0:0]\n"
        for e in entries {
            for rule in dnat(e, family: family, mark: mark) {
                nat += "-A \(Self.pre) \(rule)\n"
            }
        }
        if s.hostAccess {
            for e in entries {
                for rule in dnat(e, family: family, mark: mark) { nat += "-A \(Self.out) \(rule)\n" }
            }
        }
        if s.hairpin {
            // The packet mark was set in LIBVIRT_PORTFWD_FWD for bridge-to-bridge connections of ours.
            nat += "-A \(Self.post) -m mark --mark \(mark) -j MASQUERADE\n"
        }
        nat += "COMMIT\n"

        var filter = "*filter\n:\(Self.forward) - [0:0]\n"
        if s.hairpin {
            filter += "-A \(Self.forward) -i \(Self.bridgePattern) -o \(Self.bridgePattern) -m connmark --mark \(mark) -m conntrack --ctstate NEW -j MARK --set-xmark \(mark)\n"
        }
        // Counting rules, one per direction and guest endpoint (no target: they only count).
        let host = family == .ipv4 ? 32 : 128
        for c in Counted.endpoints(entries) {
            let ports = c.ports.lower == c.ports.upper ? "\(c.ports.lower)" : "\(c.ports.lower):\(c.ports.upper)"
            let p = c.proto.rawValue
            filter += "-A \(Self.forward) -d \(c.address)/\(host) -p \(p) -m \(p) --dport \(ports) -m connmark --mark \(mark)\n"
            filter += "-A \(Self.forward) -s \(c.address)/\(host) -p \(p) -m \(p) --sport \(ports) -m connmark --mark \(mark)\n"
        }
        // Admission: our connections pass whatever libvirt's chains below would do to them.
        // With admission = "none" the chain only counts, and the verdict is left to the rest.
        if s.admission != .none {
            filter += "-A \(Self.forward) -m connmark --mark \(mark) -j ACCEPT\n"
        }
        filter += "COMMIT\n"
        return nat + filter
    }

    /// Two rules per entry and source: tag the connection, then DNAT it. Both match alike,
    /// so the mark is set exactly when the DNAT happens.
    private func dnat(_ e: PlanEntry, family: Family, mark: String) -> [String] {
        let host = family == .ipv4 ? 32 : 128
        let p = e.proto.rawValue
        let ports = e.hostPorts.lower == e.hostPorts.upper ? "\(e.hostPorts.lower)" : "\(e.hostPorts.lower):\(e.hostPorts.upper)"
        let target = family == .ipv6 ? "[\(e.guestAddress)]" : "\(e.guestAddress)"
        var to = "\(target):\(e.guestPorts.lower)"
        if e.guestPorts.count > 1 { to = "\(target):\(e.guestPorts.lower)-\(e.guestPorts.upper)/\(e.hostPorts.lower)" }
        return e.sources.flatMap { source -> [String] in
            var match = ""
            if source.prefix != 0 { match += "-s \(source) " }
            if let address = e.hostAddress { match += "-d \(address)/\(host) " }
            match += "-p \(p) -m \(p) --dport \(ports)"
            return [
                "\(match) -j CONNMARK --set-xmark \(mark)",
                "\(match) -j DNAT --to-destination \(to)",
            ]
        }
    }
}
