extension NftTable {
    /// The table a plan needs: every set and map with its elements, every chain with its rules.
    /// Built once; `NftRenderer` prints it and drift compares the kernel's listing with it.
    ///
    /// Every value is typed (`IPAddress`, `Network`, `PortRange`, `Proto`, `Mark`); guest names
    /// appear only as element owners, printed in `#` comments through `GuestName.commentText`.
    /// Lookups are sets and maps, so per-packet cost does not grow with the number of forwards.
    ///
    /// - Parameter counters: what the count sets held before, carried into the new table so
    ///   that a swap does not reset them.
    public init(plan: Plan, counters: Counters = [:]) {
        let mark = plan.settings.mark
        var sets: [NftSet] = []
        let entries = plan.entries
        for v in Family.allCases {
            let address = NftField.address(v)
            let everyone = [Network.any(v)]
            var dnatAny: [NftElement] = [], dnatBound: [NftElement] = [], openAny: [NftElement] = [], openBound: [NftElement] = []
            var allowAny: [NftElement] = [], allowBound: [NftElement] = [], inFamily: [PlanEntry] = []
            for e in entries where e.family == v {
                inFamily.append(e)
                let open = e.sources == everyone
                let proto = NftValue.proto(e.proto), guest = NftValue.address(e.guestAddress)
                let ports = zip(e.hostPorts.lower...e.hostPorts.upper, e.guestPorts.lower...e.guestPorts.upper)
                if let host = e.hostAddress.map(NftValue.address) {
                    for (h, g) in ports { dnatBound.append(NftElement([host, proto, .port(h)], data: [guest, .port(g)], owner: e.guest)) }
                    if open {
                        for p in e.hostPorts.lower...e.hostPorts.upper { openBound.append(NftElement([host, proto, .port(p)], owner: e.guest)) }
                    } else {
                        for s in e.sources { allowBound.append(NftElement([.network(s), host, proto, .ports(e.hostPorts)], owner: e.guest)) }
                    }
                } else {
                    for (h, g) in ports { dnatAny.append(NftElement([proto, .port(h)], data: [guest, .port(g)], owner: e.guest)) }
                    if open {
                        for p in e.hostPorts.lower...e.hostPorts.upper { openAny.append(NftElement([proto, .port(p)], owner: e.guest)) }
                    } else {
                        for s in e.sources { allowAny.append(NftElement([.network(s), proto, .ports(e.hostPorts)], owner: e.guest)) }
                    }
                }
            }
            // One element per forward in each count set, keyed as the DNAT matched it; the
            // DNAT side names its owner, whose counters alone a swap carries over.
            var counted: [CountSet: [NftElement]] = [:]
            for e in inFamily {
                // The owner once: for a guest without a UUID it is a digest of the name.
                let key = ForwardKey(e), owner = e.owner, held = counters.carried(to: key, owner: owner), values = key.values
                counted[CountSet(.dnat, v, key.kind), default: []]
                    .append(NftElement(values, counter: held?.dnat, owner: e.guest, comment: owner))
                counted[CountSet(.delivered, v, key.kind), default: []].append(NftElement(values, counter: held?.delivered, owner: e.guest))
            }
            // Interval sets (pipapo) cost far more to load than hashes, so only restricted
            // forwards go through them; open ones are checked against plain hash sets.
            sets += [
                NftSet(name: "dnat\(v.suffix)_any", comment: "proto . host port : guest address . guest port (every local address)",
                       key: [.proto, .service], data: [address, .service], elements: dnatAny),
                NftSet(name: "dnat\(v.suffix)_bound", comment: "host address . proto . host port : guest address . guest port",
                       key: [address, .proto, .service], data: [address, .service], elements: dnatBound),
                NftSet(name: "open\(v.suffix)_any", comment: "proto . host port open to every client", key: [.proto, .service], elements: openAny),
                NftSet(name: "open\(v.suffix)_bound", comment: "host address . proto . host port open to every client",
                       key: [address, .proto, .service], elements: openBound),
                NftSet(name: "allow\(v.suffix)_any", comment: "client network . proto . host ports of restricted forwards",
                       key: [address, .proto, .service], interval: true, elements: allowAny),
                NftSet(name: "allow\(v.suffix)_bound", comment: "client network . host address . proto . host ports of restricted forwards",
                       key: [address, address, .proto, .service], interval: true, elements: allowBound),
            ]
            sets += CountSet.all.filter { $0.family == v }.map { c in
                NftSet(name: c.name, comment: c.comment, key: c.key, interval: c.kind == .ranges, counter: true, elements: counted[c] ?? [])
            }
        }
        self.init(sets: sets, chains: Self.chains(plan.settings, isolated: plan.isolated, mark: mark))
        // The counting rules: one per count set and protocol the plan uses, so the common case
        // (one port on every address) costs one lookup per packet on each side.
        struct Use: Hashable { let set: CountSet; let proto: Proto }
        let used = Set(entries.map { Use(set: CountSet(.dnat, $0.family, ForwardKey($0).kind), proto: $0.proto) })
        for (side, name) in [(CountSet.Side.dnat, "forwarded"), (.delivered, "delivered")] {
            guard let index = chains.firstIndex(where: { $0.name == name }) else { continue }
            for c in CountSet.all where c.side == .dnat {
                for proto in Proto.allCases where used.contains(Use(set: c, proto: proto)) {
                    chains[index].rules.append(CountSet(side, c.family, c.kind).rule(proto))
                }
            }
        }
    }

    /// The placeholder for the plan's fingerprint in the forward chain's comment; the
    /// renderer fills it in from the text around it.
    public static let fingerprintPlaceholder = "@FINGERPRINT@"

    /// The forward chain's rule: its identity, then the plan's fingerprint.
    static func countIn(_ mark: Mark) -> NftRule {
        var rule = NftRule("ct mark & \(mark) == \(mark) jump forwarded", role: "count-in")
        rule.comment! += " plan \(fingerprintPlaceholder)"
        return rule
    }

    private static func chains(_ s: Settings, isolated: [String], mark: Mark) -> [NftChain] {
        let local = [NftRule("ip daddr != 127.0.0.0/8 fib daddr type local jump dnat4", role: "local4"),
                     NftRule("ip6 daddr != ::1 fib daddr type local jump dnat6", role: "local6")]
        var prerouting = local
        if !isolated.isEmpty {
            // One rule per bridge, its name matched exactly (`InterfaceMatch`): a wildcard in a
            // set of names would need an interval set.
            prerouting.insert(contentsOf: isolated.enumerated().map { i, bridge in
                NftRule("iifname \(InterfaceMatch.nft(bridge)) return", role: "isolate",
                        notes: i == 0 ? ["Isolated libvirt networks: their guests may reach nothing beyond their bridge."] : [])
            }, at: 0)
        }
        var chains = [NftChain(name: "prerouting", notes: ["Never a loopback destination: a neighbour that routes 127.0.0.0/8 to this host",
                                                          "would otherwise reach the guests through 127.0.0.1 (moby #45610)."],
                               hook: NftHook(type: "nat", hook: "prerouting", priority: -100, priorityText: "dstnat"), rules: prerouting)]
        if s.hostAccess {
            chains.append(NftChain(name: "output", notes: ["The host reaching a forward through one of its own addresses. Loopback is left",
                                                           "alone: a DNAT from 127.0.0.1 to a guest would be dropped as martian."],
                                   hook: NftHook(type: "nat", hook: "output", priority: -100), rules: local))
        }
        for v in Family.allCases {
            let tag = "ct mark set ct mark | \(mark) dnat \(v.nft) to"
            let any = "meta l4proto . th dport map @dnat\(v.suffix)_any",
                bound = "\(v.nft) daddr . meta l4proto . th dport map @dnat\(v.suffix)_bound"
            chains.append(NftChain(
                name: "dnat\(v.suffix)",
                notes: ["An open or allow set admits the client and confirms the key is ours before the mark is set."],
                rules: [
                    NftRule("meta l4proto { tcp, udp, sctp } \(v.nft) daddr . meta l4proto . th dport @open\(v.suffix)_bound \(tag) \(bound)",
                            role: "open-bound"),
                    NftRule("meta l4proto { tcp, udp, sctp } \(v.nft) saddr . \(v.nft) daddr . meta l4proto . th dport "
                            + "@allow\(v.suffix)_bound \(tag) \(bound)",
                            role: "allow-bound"),
                    NftRule("meta l4proto { tcp, udp, sctp } meta l4proto . th dport @open\(v.suffix)_any \(tag) \(any)", role: "open-any"),
                    NftRule("meta l4proto { tcp, udp, sctp } \(v.nft) saddr . meta l4proto . th dport @allow\(v.suffix)_any \(tag) \(any)",
                            role: "allow-any"),
                ]))
        }
        // Our connections are counted twice on the forward path: as they enter it, before any
        // other firewall's chain (the lowest priority there is), and as they leave it, after
        // every one (the highest). What entered and never left was dropped in between.
        chains.append(NftChain(name: "forward", notes: ["Counts and tags, first of every chain on the hook; admission into the other firewalls",
                                                        "is a separate, mark-scoped rule in theirs."],
                               hook: NftHook(type: "filter", hook: "forward", priority: NftHook.first),
                               rules: [Self.countIn(mark)]))
        var forwarded: [NftRule] = []
        if s.hairpin {
            forwarded.append(NftRule("ct state new fib daddr . iif oif exists meta mark set meta mark | \(mark)", role: "hairpin",
                                     notes: ["Hairpin: the client sits on the guest's own link, so the guest would answer it",
                                             "directly and bypass the DNAT. Tag the packet for masquerade."]))
        }
        chains.append(NftChain(name: "forwarded", rules: forwarded))
        chains.append(NftChain(name: "delivery", notes: ["Counts what every other firewall's forward chains let through: last on the hook."],
                               hook: NftHook(type: "filter", hook: "forward", priority: NftHook.last),
                               rules: [NftRule("ct mark & \(mark) == \(mark) jump delivered", role: "count-out")]))
        chains.append(NftChain(name: "delivered", rules: []))
        if s.hairpin {
            chains.append(NftChain(name: "postrouting", hook: NftHook(type: "nat", hook: "postrouting", priority: 100, priorityText: "srcnat"),
                                   rules: [NftRule("meta mark & \(mark) == \(mark) meta mark set meta mark & \(mark.inverse) masquerade",
                                                   role: "masquerade")]))
        }
        return chains
    }
}

extension NftValue {
    static func port(_ port: UInt16) -> NftValue { .ports(PortRange(port: port)!) }
}
