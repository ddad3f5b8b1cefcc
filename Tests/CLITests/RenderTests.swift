import Foundation
import Testing
@testable import PortFwdCore
import PortFwdSystem

/// rulesets/ holds example configs next to the exact rulesets they render to. They are the
/// golden files and the documentation at once, so they must never drift from the renderer.
@Suite struct GoldenRulesetTests {
    static let examples: [String] = {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: Paths.rulesets)) ?? []
        return names.filter { $0.hasSuffix(".toml") }.map { String($0.dropLast(5)) }.sorted()
    }()

    @Test func thereAreExamples() {
        #expect(Self.examples.count >= 4, "rulesets/ should hold the example configs")
    }

    @Test(arguments: examples)
    func rendersExactlyTheGoldenRuleset(name: String) throws {
        let config = try ConfigFile.load(path: "\(Paths.rulesets)/\(name).toml", required: true)
        let guests = Resolver.resolve(config: config, running: [], all: true).guests
        let rendered = NftRenderer().render(try Plan(guests: guests, settings: config.settings))
        let golden = try String(contentsOfFile: "\(Paths.rulesets)/\(name).nft", encoding: .utf8)
        #expect(rendered == golden, "rulesets/\(name).nft is stale; regenerate it with `make rulesets` and review the diff")
    }

    /// The goldens are written by the renderer itself, so a renderer bug could be "fixed" by
    /// regenerating them. This reference for basic.toml is written by hand from what the
    /// config means, as typed values, and compared with the plan's table: every
    /// set's declaration and elements, and every chain's rules.
    @Test func basicMatchesAHandWrittenReference() throws {
        let config = try ConfigFile.load(path: "\(Paths.rulesets)/basic.toml", required: true)
        let guests = Resolver.resolve(config: config, running: [], all: true).guests
        let planned = NftTable(plan: try Plan(guests: guests, settings: config.settings))
        // web1 at 192.168.122.10: host 8080 to 80, host 2222 to 22, tcp, for every client;
        // counted per forward, by host port, on both sides of the forward path, the DNAT side
        // naming the owner (a configured guest without a UUID: a digest of its name); hairpin
        // and host access on (the defaults); mark 0x10000000.
        let owner = "guest-" + GuestName.digest(try GuestName("web1"))
        func set(_ name: String, _ type: String, interval: Bool = false, counter: Bool = false, _ elements: [NftElement] = []) -> NftSet {
            let halves = type.components(separatedBy: " : ")
            func fields(_ text: String) -> [NftField] { text.components(separatedBy: " . ").map(NftField.init) }
            return NftSet(name: name, key: fields(halves[0]), data: halves.count > 1 ? fields(halves[1]) : [], interval: interval, counter: counter,
                          elements: elements)
        }
        func port(_ n: UInt16) -> NftValue { .ports(PortRange(port: n)!) }
        let web1 = NftValue.address(IPAddress("192.168.122.10")!)
        var sets = [
            set("dnat4_any", "inet_proto . inet_service : ipv4_addr . inet_service", [
                NftElement([.proto(.tcp), port(8080)], data: [web1, port(80)]), NftElement([.proto(.tcp), port(2222)], data: [web1, port(22)]),
            ]),
            set("open4_any", "inet_proto . inet_service", [NftElement([.proto(.tcp), port(2222)]), NftElement([.proto(.tcp), port(8080)])]),
            set("fwd4_any", "inet_proto . inet_service", counter: true, [
                NftElement([.proto(.tcp), port(8080)], comment: owner), NftElement([.proto(.tcp), port(2222)], comment: owner),
            ]),
            set("dlv4_any", "inet_proto . inet_service", counter: true, [NftElement([.proto(.tcp), port(2222)]),
                NftElement([.proto(.tcp), port(8080)])]),
        ]
        for v in ["4", "6"] {
            let a = v == "4" ? "ipv4_addr" : "ipv6_addr"
            if v == "6" {
                sets += [set("dnat6_any", "inet_proto . inet_service : ipv6_addr . inet_service"), set("open6_any", "inet_proto . inet_service"),
                         set("fwd6_any", "inet_proto . inet_service", counter: true), set("dlv6_any", "inet_proto . inet_service", counter: true)]
            }
            sets += [
                set("dnat\(v)_bound", "\(a) . inet_proto . inet_service : \(a) . inet_service"),
                set("open\(v)_bound", "\(a) . inet_proto . inet_service"),
                set("allow\(v)_any", "\(a) . inet_proto . inet_service", interval: true),
                set("allow\(v)_bound", "\(a) . \(a) . inet_proto . inet_service", interval: true),
            ]
            for side in ["fwd", "dlv"] {
                sets += [set("\(side)\(v)_bound", "\(a) . inet_proto . inet_service", counter: true),
                         set("\(side)\(v)_ranges", "\(a) . inet_proto . inet_service", interval: true, counter: true)]
            }
        }
        let tag = { (ip: String, v: String) in "ct mark set ct mark | 0x10000000 dnat \(ip) to" }
        var chains: [NftChain] = []
        for (ip, v) in [("ip", "4"), ("ip6", "6")] {
            chains.append(NftChain(name: "dnat\(v)", rules: [
                "meta l4proto { tcp, udp, sctp } \(ip) daddr . meta l4proto . th dport @open\(v)_bound \(tag(ip, v)) \(ip) daddr . meta l4proto . th "
                    + "dport map @dnat\(v)_bound",
                "meta l4proto { tcp, udp, sctp } \(ip) saddr . \(ip) daddr . meta l4proto . th dport @allow\(v)_bound \(tag(ip, v)) \(ip) daddr . "
                    + "meta l4proto . th dport map @dnat\(v)_bound",
                "meta l4proto { tcp, udp, sctp } meta l4proto . th dport @open\(v)_any \(tag(ip, v)) meta l4proto . th dport map @dnat\(v)_any",
                "meta l4proto { tcp, udp, sctp } \(ip) saddr . meta l4proto . th dport @allow\(v)_any \(tag(ip, v)) meta l4proto . th dport map "
                    + "@dnat\(v)_any",
            ].map { NftRule($0) }))
        }
        let local = ["ip daddr != 127.0.0.0/8 fib daddr type local jump dnat4", "ip6 daddr != ::1 fib daddr type local jump dnat6"]
            .map { NftRule($0) }
        chains += [
            NftChain(name: "prerouting", hook: NftHook(type: "nat", hook: "prerouting", priority: -100, priorityText: "dstnat"), rules: local),
            NftChain(name: "output", hook: NftHook(type: "nat", hook: "output", priority: -100), rules: local),
            NftChain(name: "forward", hook: NftHook(type: "filter", hook: "forward", priority: -2147483648),
                     rules: [NftRule("ct mark & 0x10000000 == 0x10000000 jump forwarded")]),
            NftChain(name: "forwarded", rules: [
                NftRule("ct state new fib daddr . iif oif exists meta mark set meta mark | 0x10000000"),
                NftRule("meta nfproto ipv4 meta l4proto tcp meta l4proto . ct original proto-dst @fwd4_any return"),
            ]),
            NftChain(name: "delivery", hook: NftHook(type: "filter", hook: "forward", priority: 2147483647),
                     rules: [NftRule("ct mark & 0x10000000 == 0x10000000 jump delivered")]),
            NftChain(name: "delivered", rules: [NftRule("meta nfproto ipv4 meta l4proto tcp meta l4proto . ct original proto-dst @dlv4_any return")]),
            NftChain(name: "postrouting", hook: NftHook(type: "nat", hook: "postrouting", priority: 100, priorityText: "srcnat"),
                     rules: [NftRule("meta mark & 0x10000000 == 0x10000000 meta mark set meta mark & 0xefffffff masquerade")]),
        ]
        var handWritten = NftTable(sets: sets, chains: chains)
        // Each rule's role, by hand; its identity digests the statement written above.
        let roles: [String: [String]] = [
            "prerouting": ["local4", "local6"], "output": ["local4", "local6"],
            "dnat4": ["open-bound", "allow-bound", "open-any", "allow-any"], "dnat6": ["open-bound", "allow-bound", "open-any", "allow-any"],
            "forward": ["count-in"], "forwarded": ["hairpin", "fwd4_any-tcp"], "delivery": ["count-out"], "delivered": ["dlv4_any-tcp"],
            "postrouting": ["masquerade"],
        ]
        for c in handWritten.chains.indices {
            let chainRoles = roles[handWritten.chains[c].name] ?? []
            #expect(chainRoles.count == handWritten.chains[c].rules.count, "a role for each rule of \(handWritten.chains[c].name)")
            for (r, role) in zip(handWritten.chains[c].rules.indices, chainRoles) {
                handWritten.chains[c].rules[r].comment = RuleIdentity(role: role, statement: handWritten.chains[c].rules[r].text).comment
            }
        }
        #expect(handWritten.sets.count == 24 && handWritten.chains.count == 9)
        #expect(planned.drift(from: handWritten) == [])
        #expect(handWritten.drift(from: planned) == [])
        func rules(_ t: NftTable) -> [String: [String]] { Dictionary(uniqueKeysWithValues: t.chains.map { ($0.name, $0.rules.map(\.text)) }) }
        func hooks(_ t: NftTable) -> [String: String] { Dictionary(uniqueKeysWithValues: t.chains.map { ($0.name, $0.hook?.statement ?? "") }) }
        #expect(rules(planned) == rules(handWritten))
        #expect(hooks(planned) == hooks(handWritten))
        #expect(planned.chain("forward")?.rules.first?.comment
                == RuleIdentity(role: "count-in", statement: "ct mark & 0x10000000 == 0x10000000 jump forwarded").comment
                + " plan \(NftTable.fingerprintPlaceholder)")
        func comments(_ t: NftTable) -> [String: [String?]] {
            Dictionary(uniqueKeysWithValues: t.sets.map { s in (s.name, s.elements.sorted { $0.description < $1.description }.map(\.comment)) })
        }
        #expect(comments(planned) == comments(handWritten), "every DNAT count element names its owner, and nothing else does")
    }

    @Test(arguments: examples)
    func rendersExactlyTheGoldenRestoreInput(name: String) throws {
        let config = try ConfigFile.load(path: "\(Paths.rulesets)/\(name).toml", required: true)
        let guests = Resolver.resolve(config: config, running: [], all: true).guests
        let rendered = IptablesRenderer().render(try Plan(guests: guests, settings: config.settings))
        let golden = try String(contentsOfFile: "\(Paths.rulesets)/\(name).iptables", encoding: .utf8)
        #expect(rendered == golden, "rulesets/\(name).iptables is stale; regenerate it with `make rulesets` and review the diff")
    }

    @Test func exportPrintsExactlyTheGoldenFiles() throws {
        for name in Self.examples {
            for (backend, ext) in [("nftables", "nft"), ("iptables", "iptables")] {
                var out = try Shell.run("\(Paths.binary) export --all --backend \(backend) --config \(Paths.rulesets)/\(name).toml --state-dir "
                    + "/nonexistent")
                // Where nftables has `destroy table` (1.0.7 on, Debian 13), export prints the one
                // command the golden files spell as declare-and-delete for every nftables.
                out = out.replacingOccurrences(of: "\ndestroy table inet libvirt_portfwd\n",
                    with: "\ntable inet libvirt_portfwd\ndelete table inet libvirt_portfwd\n")
                let golden = try String(contentsOfFile: "\(Paths.rulesets)/\(name).\(ext)", encoding: .utf8)
                #expect(out == golden, "\(name).\(ext)")
            }
        }
    }
}

@Suite struct RenderTests {
    func render(_ toml: String) throws -> String {
        let config = try Config.parse(toml)
        let guests = Resolver.resolve(config: config, running: [], all: true).guests
        return NftRenderer().render(try Plan(guests: guests, settings: config.settings))
    }

    @Test func replacesTheWholeTableInOneScript() throws {
        let text = try render("")
        let lines = text.split(separator: "\n").filter { !$0.hasPrefix("#") }
        #expect(Array(lines.prefix(3)) == ["table inet libvirt_portfwd", "delete table inet libvirt_portfwd", "table inet libvirt_portfwd {"])
        // nftables >= 1.0.7 can say the same in one command.
        let config = try Config.parse("")
        let destroy = NftRenderer(replace: .destroy).render(try Plan(guests: [], settings: config.settings))
        #expect(Array(destroy.split(separator: "\n").filter { !$0.hasPrefix("#") }.prefix(2)) == ["destroy table inet libvirt_portfwd",
            "table inet libvirt_portfwd {"])
    }

    @Test func rangesExpandOffsetPreservingIntoTheMap() throws {
        let text = try render("[[guest]]\nname = \"a\"\naddress = \"192.168.122.10\"\nforwards = [\"8000-8002:9000-9002\"]\n")
        #expect(text.contains("tcp . 8000 : 192.168.122.10 . 9000,"))
        #expect(text.contains("tcp . 8001 : 192.168.122.10 . 9001,"))
        #expect(text.contains("tcp . 8002 : 192.168.122.10 . 9002,"))
        #expect(text.contains("tcp . 8001,"), "open forwards are checked per port in a hash set")
    }

    @Test func onlyRestrictedForwardsUseIntervalSets() throws {
        // Interval (pipapo) sets are what makes a large ruleset slow to load: 10,000 open
        // forwards took 2.5 s through them and 0.23 s through hash sets.
        let text = try render("""
            [[guest]]
            name = "a"
            address = "192.168.122.10"
            forwards = ["80", { spec = "22", sources = ["198.51.100.0/24"] }]
            """)
        let allow = text.components(separatedBy: "set allow4_any {")[1].components(separatedBy: "}")[0]
        #expect(allow.contains("198.51.100.0/24 . tcp . 22,"))
        #expect(!allow.contains(" 80,"))
        let open = text.components(separatedBy: "set open4_any {")[1].components(separatedBy: "}")[0]
        #expect(open.contains("tcp . 80,") && !open.contains("22"))
    }

    @Test func ruleCountDoesNotGrowWithForwards() throws {
        func ruleLines(_ n: Int) throws -> Int {
            let forwards = (0..<n).map { "\"\(10000 + $0):80\"" }.joined(separator: ", ")
            let text = try render("[[guest]]\nname = \"a\"\naddress = \"192.168.122.10\"\nforwards = [\(forwards)]\n")
            return text.split(separator: "\n").filter { $0.contains(" jump ") || $0.contains(" dnat ") || $0.contains(" masquerade") }.count
        }
        #expect(try ruleLines(1) == ruleLines(500))
    }

    @Test func everyDNATSetsTheMarkAndSettingsDropChains() throws {
        let on = try render(Fixtures.web1 + "[settings]\nmark = 0x100\n")
        let dnats = on.split(separator: "\n").filter { $0.contains(" dnat ") }
        #expect(!dnats.isEmpty, "nothing to check: the ruleset holds no DNAT\n\(on)")
        for line in dnats { #expect(line.contains("ct mark set ct mark | 0x100 dnat"), "\(line)") }
        #expect(on.contains("chain output") && on.contains("chain postrouting"))
        let off = try render("[settings]\nhairpin = false\nhost-access = false\n")
        #expect(!off.contains("chain output") && !off.contains("chain postrouting") && !off.contains("masquerade"))
    }

    @Test func hostileGuestNamesOnlyReachCommentsSanitised() throws {
        let text = try render("[[guest]]\nname = \"evil\\\"}\\u0020; flush ruleset #\"\naddress = \"192.168.122.10\"\nforwards = [\"80\"]\n")
        #expect(text.contains("# evil_____flush_ruleset__\n"))
        #expect(!text.contains("flush ruleset #"))
    }

    /// The fingerprint follows the plan, not the way the old table is removed.
    @Test func fingerprintNamesThePlan() throws {
        let a = try Config.parse(Fixtures.web1), b = try Config.parse(Fixtures.web1 + "[settings]\nhairpin = false\n")
        let planA = try Plan(guests: Resolver.resolve(config: a, running: [], all: true).guests, settings: a.settings)
        let planB = try Plan(guests: Resolver.resolve(config: b, running: [], all: true).guests, settings: b.settings)
        #expect(NftRenderer().fingerprint(planA) == NftRenderer(replace: .destroy).fingerprint(planA))
        #expect(NftRenderer().fingerprint(planA) != NftRenderer().fingerprint(planB))
        #expect(NftRenderer().render(planA).contains(" plan \(NftRenderer().fingerprint(planA))\"\n"))
        #expect(try FakeNftables.readBack(NftRenderer().transaction(planA)).fingerprint == NftRenderer().fingerprint(planA))
    }

    /// The plan's digest goes into the forward chain's comment only, even when a guest's name
    /// (printed in a comment above its elements) spells the placeholder.
    @Test func aGuestNamedLikeThePlaceholderKeepsItsName() throws {
        let plan = try Fixtures.plan("[[guest]]\nname = \"@FINGERPRINT@\"\naddress = \"192.168.122.10\"\nforwards = [\"8080:80\"]\n")
        let text = NftRenderer().render(plan)
        #expect(text.contains(" plan \(NftRenderer().fingerprint(plan))\"\n"))
        #expect(text.contains("\t\t\t# @FINGERPRINT@\n"))
        #expect(try FakeNftables.readBack(NftRenderer().transaction(plan)).fingerprint == NftRenderer().fingerprint(plan))
    }

    /// Prerouting never DNATs a loopback destination (moby #45610).
    @Test func preroutingExcludesLoopback() throws {
        let text = try render(Fixtures.web1)
        #expect(text.contains("ip daddr != 127.0.0.0/8 fib daddr type local jump dnat4"))
        #expect(text.contains("ip6 daddr != ::1 fib daddr type local jump dnat6"))
    }

    /// What `status` compares the kernel's listing with: the plan's own table, typed, element
    /// by element; the committed table lists back as the same table.
    @Test func driftNamesTheElementsASetLacksOrHolds() throws {
        let plan = try Fixtures.plan("[[guest]]\nname = \"a\"\naddress = \"192.168.122.10\"\nforwards = [\"8080:80\", { spec = \"22\", sources = "
            + "[\"198.51.100.7\"] }]\n")
        let planned = NftTable(plan: plan)
        let read = try FakeNftables.readBack(NftRenderer().transaction(plan))
        #expect(read.drift(from: planned) == [] && planned.drift(from: read) == [])
        #expect(planned.set("dnat4_any")?.elements.map(\.description) == ["tcp . 8080 : 192.168.122.10 . 80", "tcp . 22 : 192.168.122.10 . 22"])
        #expect(planned.set("allow4_any")?.elements.map(\.description) == ["198.51.100.7/32 . tcp . 22"])
        #expect(planned.chain("prerouting")?.rules.count == 2 && planned.chain("dnat4")?.rules.count == 4
            && planned.chain("forward")?.rules.count == 1)
        // nft lists a host of an interval set without /32: the same element.
        let ip = { (text: String) in NftValue.address(IPAddress(text)!) }
        var tampered = planned
        let allow = tampered.sets.firstIndex { $0.name == "allow4_any" }!, dnat = tampered.sets.firstIndex { $0.name == "dnat4_any" }!
        tampered.sets[allow].elements = [NftElement([ip("198.51.100.7"), .proto(.tcp), .ports(PortRange(port: 22)!)])]
        #expect(tampered.drift(from: planned) == [])
        tampered.sets[dnat].elements.removeLast()
        #expect(tampered.drift(from: planned).map(\.description) == ["map dnat4_any lacks tcp . 22 : 192.168.122.10 . 22"])
        tampered.sets[allow].elements = ([8] + (21...25)).map { NftElement([ip("198.51.100.\($0)"), .proto(.tcp), .ports(PortRange(port: 22)!)]) }
        tampered.sets[allow].elements.append(NftElement([.unreadable("example.com"), .proto(.tcp), .ports(PortRange(port: 22)!)]))
        #expect(tampered.drift(from: planned).map(\.description) == [
            "set allow4_any lacks 198.51.100.7/32 . tcp . 22",
            "set allow4_any holds 198.51.100.8 . tcp . 22, which is not in the plan",
            "set allow4_any holds 198.51.100.21 . tcp . 22, which is not in the plan",
            "set allow4_any holds 198.51.100.22 . tcp . 22, which is not in the plan",
            "set allow4_any holds 4 more elements that are not in the plan",
            "map dnat4_any lacks tcp . 22 : 192.168.122.10 . 22",
        ])
        tampered.sets[allow].interval = false
        tampered.chains.removeAll { $0.name == "output" }
        tampered.chains[0].rules.removeFirst()
        #expect(tampered.drift(from: planned).map(\.description) == [
            "set allow4_any is declared ipv4_addr . inet_proto . inet_service, the plan ipv4_addr . inet_proto . inet_service, flags interval",
            "map dnat4_any lacks tcp . 22 : 192.168.122.10 . 22",
            "chain output is missing",
            "chain prerouting lacks its rule local4",
        ])
    }

    @Test func guestNamesWithNewlinesAreRefused() {
        let e = expectError(PortFwdError.self) { try Config.parse("[[guest]]\nname = \"a\\nflush ruleset\"\n", file: "f.toml") }
        #expect(e?.message.hasPrefix("f.toml: line 2: guest[0].name: guest name ") == true, "\(e?.message ?? "no error")")
        #expect(e?.message.contains("\n") == false)
    }
}
