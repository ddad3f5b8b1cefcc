import Foundation
import Testing
@testable import PortFwd
@testable import PortFwdCore
import PortFwdSystem

/// Drift at the element level without root: the fake nftables holds the table as typed objects
/// and takes `add element` and `delete element` as nft does, so a change behind our back is
/// named element by element, and one reconcile puts it back (what the service's repair does).
@Suite struct DriftTests {
    let host = FakeHost()
    /// Every configured guest covered, as after `apply --all`.
    var all: Change { var c = Change.reapply; c.mode = .all; return c }
    static let config = """
        [[guest]]
        name = "web1"
        address = "192.168.122.10"
        forwards = ["8080:80", { spec = "22", sources = ["198.51.100.0/24"] }]

        """

    @Test func anElementTakenOrAddedBehindOurBackIsNamedAndRepaired() throws {
        let reconciler = try host.reconciler(Self.config)
        let plan = try reconciler.reconcile(all).plan
        #expect(try reconciler.drift(from: plan) == [])
        host.nft.count("fwd4_any", "tcp . 8080", bytes: 1000)

        func port(_ n: UInt16) -> NftValue { .ports(PortRange(port: n)!) }
        try host.nft.commit(.delete(.elements(.ours, set: "dnat4_any", [NftElement([.proto(.tcp), port(8080)])])))
        try host.nft.commit(.addElements(.ours, set: "allow4_any", [NftElement([.network(try Network.parse("203.0.113.0/24")), .proto(.tcp),
            port(22)])]))
        try host.nft.commit(.delete(.elements(.ours, set: "dlv4_any", [NftElement([.proto(.tcp), port(22)])])))
        #expect(try reconciler.drift(from: plan).map(\.description) == [
            "table inet libvirt_portfwd: set allow4_any holds 203.0.113.0/24 . tcp . 22, which is not in the plan",
            "table inet libvirt_portfwd: set dlv4_any lacks tcp . 22",
            "table inet libvirt_portfwd: map dnat4_any lacks tcp . 8080 : 192.168.122.10 . 80",
        ])

        _ = try reconciler.reconcile(.reapply)
        #expect(try reconciler.drift(from: plan) == [])
        #expect(host.nft.elements("dnat4_any") == ["tcp . 22 : 192.168.122.10 . 22", "tcp . 8080 : 192.168.122.10 . 80"])
        #expect(host.nft.elements("allow4_any") == ["198.51.100.0/24 . tcp . 22"])
        let counters = try #require(try reconciler.backends.selected.counters(for: plan))
        #expect(counters[ForwardKey(family: .ipv4, hostAddress: nil, proto: .tcp, hostPorts: PortRange(port: 8080)!)]?.dnat == Counts(packets: 1,
            bytes: 1000),
                "the repair carried the counter across the swap")
    }

    /// Our forward chain with a policy of drop stops every forwarded packet: named, and repaired.
    @Test func aChainHookedOtherwiseIsNamedAndRepaired() throws {
        let reconciler = try host.reconciler(Self.config)
        let plan = try reconciler.reconcile(all).plan
        var table = try #require(host.nft.table)
        let forward = try #require(table.chains.firstIndex { $0.name == "forward" })
        table.chains[forward].hook?.policy = "drop"
        let postrouting = try #require(table.chains.firstIndex { $0.name == "postrouting" })
        table.chains[postrouting].hook = nil
        try host.nft.commit(NftRenderer().transaction(table))
        #expect(try reconciler.drift(from: plan).map(\.description) == [
            "table inet libvirt_portfwd: chain forward is hooked filter forward -2147483648, policy drop, the plan hooked filter forward "
                + "-2147483648, policy accept",
            "table inet libvirt_portfwd: chain postrouting is a regular chain, the plan hooked nat postrouting 100, policy accept",
        ])
        _ = try reconciler.reconcile(.reapply)
        #expect(try reconciler.drift(from: plan) == [])
    }

    /// A repair judges the kernel and installs with one survey of the other firewalls (here
    /// libvirt's nftables chains): each place listed once, not once for each.
    @Test func aRepairSurveysTheOtherFirewallsOnce() throws {
        host.nft.addLibvirtTables(families: [.ipv4])
        let reconciler = try host.reconciler(Self.config)
        let plan = try reconciler.reconcile(all).plan
        func surveys() -> Int {
            host.nft.queries.filter { if case .chain(let id, "forward") = $0, id == LibvirtForwardChain.nftTable(.ipv4) { true } else { false } }
                .count
        }
        try host.nft.commit(.delete(.table(.ours)))
        let before = surveys()
        let repair = try reconciler.repair(limit: nil, held: plan)
        #expect(repair.verdict == .repaired(others: [.tableMissing]))
        #expect(surveys() - before == 1)
        #expect(try reconciler.drift(from: plan) == [])
        #expect(host.nft.rules(.ipv4, "forward").first == LibvirtForwardChain.rule(.default).text, "admission in place")
    }

    /// The installed table with `edit` made to its rules behind our back, as another program would.
    func tamper(_ edit: (inout NftTable) throws -> Void) throws {
        var table = try #require(host.nft.table)
        try edit(&table)
        try host.nft.commit(NftRenderer().transaction(table))
    }

    func index(_ table: NftTable, _ chain: String) throws -> Int { try #require(table.chains.firstIndex { $0.name == chain }) }

    /// The DNAT rule for open forwards on every address swapped for a plain accept: the same
    /// number of rules, and still drift, named by chain and role; one reconcile puts it back.
    @Test func aRuleReplacedByAnotherOfTheSameCountIsNamedAndRepaired() throws {
        let reconciler = try host.reconciler(Self.config)
        let plan = try reconciler.reconcile(all).plan
        let before = try #require(host.nft.table?.chain("dnat4")?.rules.map(\.comment))
        try tamper { table in
            let dnat4 = try index(table, "dnat4")
            table.chains[dnat4].rules[2] = NftRule("meta l4proto { tcp, udp, sctp } meta l4proto . th dport @open4_any accept")
        }
        #expect(host.nft.table?.chain("dnat4")?.rules.count == before.count)
        #expect(try reconciler.drift(from: plan) == [.table(.replacedRule("dnat4", role: "open-any", by: nil))])
        #expect(try reconciler.drift(from: plan).map(\.description) == [
            "table inet libvirt_portfwd: chain dnat4: its rule open-any was replaced by a rule that is not ours",
        ])
        _ = try reconciler.reconcile(.reapply)
        #expect(try reconciler.drift(from: plan) == [])
        #expect(host.nft.table?.chain("dnat4")?.rules.map(\.comment) == before)
    }

    /// The same with our comment copied onto the other statement: its identity is ours, its
    /// expression is not the one our install left under it. Named, and one reconcile repairs it.
    @Test func aRuleReplacedUnderACopiedCommentIsNamedAndRepaired() throws {
        let reconciler = try host.reconciler(Self.config)
        let plan = try reconciler.reconcile(all).plan
        let learnt = try #require(reconciler.store.ruleContents, "the install kept what the kernel made of its rules")
        let dnat4 = try #require(host.nft.table?.chain("dnat4"))
        #expect(dnat4.rules.allSatisfy { rule in rule.identity.flatMap { learnt["dnat4", $0] } != nil })
        try tamper { table in
            let index = try index(table, "dnat4")
            table.chains[index].rules[2] = NftRule("meta l4proto { tcp, udp, sctp } meta l4proto . th dport @open4_any accept",
                                                   comment: dnat4.rules[2].comment)
        }
        #expect(try reconciler.drift(from: plan) == [.table(.alteredRule("dnat4", role: "open-any"))])
        #expect(try reconciler.drift(from: plan).map(\.description) == [
            "table inet libvirt_portfwd: chain dnat4: its rule open-any was changed in place, its comment kept",
        ])
        _ = try reconciler.reconcile(.reapply)
        #expect(try reconciler.drift(from: plan) == [])
        #expect(host.nft.table?.chain("dnat4")?.rules.map(\.text) == dnat4.rules.map(\.text))
    }

    /// What an install learns judges only rules it knows: with nothing learnt (a store that
    /// lost its file), the same tampering is seen by identity alone, which passes it; and a
    /// learnt digest for another statement of the same role (another plan's) judges nothing.
    @Test func contentsJudgeOnlyTheRulesTheyKnow() throws {
        let reconciler = try host.reconciler(Self.config)
        let plan = try reconciler.reconcile(all).plan
        let held = try #require(host.nft.table?.chain("dnat4"))
        let comment = try #require(held.rules[2].comment)
        try tamper { table in
            let index = try index(table, "dnat4")
            table.chains[index].rules[2] = NftRule("meta l4proto tcp accept", comment: comment)
        }
        try reconciler.store.setRuleContents(nil)
        #expect(try reconciler.drift(from: plan) == [], "by identity alone: the gap the contents close")
        let identity = try #require(RuleIdentity(comment: comment))
        let other = try #require(RuleContents(text: "generation fake 1\ndnat4 \(identity.role) 00000000 0123456789abcdef\n"))
        try reconciler.store.setRuleContents(other)
        #expect(try reconciler.drift(from: plan) == [])
    }

    /// A rule of someone else's in our chain, one of ours taken out, and one of ours with
    /// another statement under its role (as an older plan with another mark wrote it): each
    /// named; and one reconcile repairs them all.
    @Test func extraMissingAndRewrittenRulesAreNamed() throws {
        let reconciler = try host.reconciler(Self.config)
        let plan = try reconciler.reconcile(all).plan
        try tamper { table in
            let prerouting = try index(table, "prerouting"), forwarded = try index(table, "forwarded"), dnat6 = try index(table, "dnat6")
            table.chains[prerouting].rules.insert(NftRule("tcp dport 22 accept"), at: 1)
            table.chains[forwarded].rules.removeAll { $0.identity?.role == "hairpin" }
            let older = table.chains[dnat6].rules[3].text.replacingOccurrences(of: "0x10000000", with: "0x4")
            table.chains[dnat6].rules[3] = NftRule(older, role: "allow-any")
        }
        #expect(try reconciler.drift(from: plan).map(\.description) == [
            "table inet libvirt_portfwd: chain dnat6: its rule allow-any is not the plan's",
            "table inet libvirt_portfwd: chain forwarded lacks its rule hairpin",
            "table inet libvirt_portfwd: chain prerouting holds a rule that is not ours",
        ])
        _ = try reconciler.reconcile(.reapply)
        #expect(try reconciler.drift(from: plan) == [])
    }

    /// Our own rules, all there, in another order: the order is what makes them work.
    @Test func rulesInAnotherOrderAreNamedOnce() throws {
        let reconciler = try host.reconciler(Self.config)
        let plan = try reconciler.reconcile(all).plan
        try tamper { table in table.chains[try index(table, "dnat4")].rules.reverse() }
        #expect(try reconciler.drift(from: plan) == [.table(.ruleOrder("dnat4"))])
        #expect(try reconciler.drift(from: plan).map(\.description) == ["table inet libvirt_portfwd: chain dnat4 holds rules of the plan in "
            + "another order"])
        _ = try reconciler.reconcile(.reapply)
        #expect(try reconciler.drift(from: plan) == [])
    }

    /// A rule of ours that another plan has (a count rule for IPv6 over UDP) is named by its
    /// role, and one of the plan's moved past another is an order, not a loss and a gain.
    @Test func aRuleOfAnotherPlanAndAMovedRuleAreNamed() throws {
        let planned = NftTable(plan: try Fixtures.plan(Self.config))
        var held = planned
        let forwarded = try index(held, "forwarded")
        #expect(planned.chains[forwarded].rules.map { $0.identity?.role } == ["hairpin", "fwd4_any-tcp"])
        held.chains[forwarded].rules.append(CountSet(.dnat, .ipv6, .any).rule(.udp))
        held.chains[forwarded].rules.swapAt(0, 1)
        #expect(held.drift(from: planned).map(\.description) == [
            "chain forwarded holds a rule fwd6_any-udp that is not in the plan",
            "chain forwarded holds rules of the plan in another order",
        ])
        // Labelled or not, what stands in a rule's place is a replacement; what is left, missing.
        held.chains[forwarded].rules = [NftRule("counter"), NftRule("counter")]
        #expect(held.drift(from: planned).map(\.description) == [
            "chain forwarded: its rule hairpin was replaced by a rule that is not ours",
            "chain forwarded: its rule fwd4_any-tcp was replaced by a rule that is not ours",
        ])
        held.chains[forwarded].rules = []
        #expect(held.drift(from: planned).map(\.description) == [
            "chain forwarded lacks its rule hairpin", "chain forwarded lacks its rule fwd4_any-tcp",
        ])
    }

    /// A set swapped for one of another declaration is named as such, not element by element.
    @Test func aSetOfAnotherDeclarationIsNamed() throws {
        let reconciler = try host.reconciler(Self.config)
        let plan = try reconciler.reconcile(all).plan
        var table = try #require(host.nft.table)
        let index = try #require(table.sets.firstIndex { $0.name == "allow4_any" })
        table.sets[index].interval = false
        try host.nft.commit(NftRenderer().transaction(table))
        #expect(try reconciler.drift(from: plan).map(\.description) == [
            "table inet libvirt_portfwd: set allow4_any is declared ipv4_addr . inet_proto . inet_service, "
                + "the plan ipv4_addr . inet_proto . inet_service, flags interval",
        ])
    }
}

/// The kernel's listing read into the model, in the forms libnftables prints it on the hosts
/// we support: no false drift (the service would repair forever), and nothing of someone
/// else's left out.
@Suite struct NftJSONTests {
    static let config = """
        [[guest]]
        name = "web1"
        address = "192.168.122.10"
        forwards = ["8080:80", "9000-9009:9000-9009/udp", "3868/sctp"]

        """

    /// The DNAT count sets of `config` as listed: `proto` the way nft prints a protocol, and
    /// with or without the set's statements.
    func listing(proto: (String) -> String, statements: Bool) -> String {
        let stmt = statements ? #", "stmt": [{"counter": null}]"# : ""
        let owner = "guest-" + GuestName.digest(try! GuestName("web1"))
        func elem(_ val: String) -> String { #"{"elem": {"val": {"concat": [\#(val)]}, "comment": "\#(owner)", "counter": {"packets": 0, "#
            + #""bytes": 0}}}"# }
        return """
            {"nftables": [{"metainfo": {"version": "1.0.2"}},
            {"set": {"family": "inet", "name": "fwd4_any", "table": "libvirt_portfwd", "type": ["inet_proto", "inet_service"]\(stmt),
              "elem": [\(elem(#"\#(proto("tcp")), 8080"#)), \(elem(#"\#(proto("sctp")), 3868"#))]}},
            {"set": {"family": "inet", "name": "fwd4_ranges", "table": "libvirt_portfwd", "type": ["ipv4_addr", "inet_proto", "inet_service"],
              "flags": ["interval"]\(stmt), \
            "elem": [\(elem(#"{"prefix": {"addr": "0.0.0.0", "len": 0}}, \#(proto("udp")), {"range": [9000, 9009]}"#))]}}]}
            """
    }

    func planned(_ names: Set<String>) throws -> NftTable {
        var table = NftTable(plan: try Fixtures.plan(Self.config))
        table.sets = table.sets.filter { names.contains($0.name) }
        table.chains = []
        return table
    }

    /// libnftables before 1.0.6 lists no set statements, and without /etc/protocols it prints
    /// protocol numbers: the same table either way.
    @Test(arguments: [true, false], [true, false])
    func theSameTableInEveryListingForm(statements: Bool, named: Bool) throws {
        let numbers = ["tcp": "6", "udp": "17", "sctp": "132"]
        let text = listing(proto: { named ? "\"\($0)\"" : numbers[$0]! }, statements: statements)
        let read = try NftJSON.table(text)
        #expect(read.drift(from: try planned(["fwd4_any", "fwd4_ranges"])) == [])
        #expect(read.counters.count == 3, "every forward's counter read: \(read.counters)")
        #expect(read.counters.values.allSatisfy { $0.owner == "guest-" + GuestName.digest(try! GuestName("web1")) }, "with its owner")
    }

    /// A rule's content is its expression: the same whatever the order of its keys or its
    /// counter's values, another for another statement; a ruleset listing is read for one table.
    @Test func aRuleContentIsItsExpression() throws {
        func rule(_ table: String, _ expr: String) -> String {
            #"{"rule": {"family": "inet", "table": "\#(table)", "chain": "dnat4", "handle": 7, "comment": "libvirt-portfwd open-any 1a2b3c4d", "#
                + #""expr": \#(expr)}}"#
        }
        func listing(_ rules: String...) -> String { #"{"nftables": [\#(rules.joined(separator: ", "))]}"# }
        let a = #"[{"match": {"op": "==", "left": {"meta": {"key": "l4proto"}}, "right": 6}}, {"counter": {"packets": 3, "bytes": 180}}, "#
            + #"{"accept": null}]"#
        let b = #"[{"match": {"right": 6, "left": {"meta": {"key": "l4proto"}}, "op": "=="}}, {"counter": {"bytes": 0, "packets": 0}}, "#
            + #"{"accept": null}]"#
        let c = #"[{"match": {"op": "==", "left": {"meta": {"key": "l4proto"}}, "right": 17}}, {"counter": {"packets": 0, "bytes": 0}}, "#
            + #"{"accept": null}]"#
        let content = { (text: String) throws -> UInt64? in try NftJSON.table(listing(rule("libvirt_portfwd", text)))
            .chain("dnat4")?.rules.first?.content }
        let (ca, cb, cc) = (try content(a), try content(b), try content(c))
        #expect(ca != nil)
        #expect(ca == cb)
        #expect(ca != cc)
        let ruleset = try NftJSON.table(listing(rule("firewalld", c), rule("libvirt_portfwd", a)), only: .ours)
        #expect(ruleset.chains.flatMap(\.rules).map(\.content) == [ca])
    }

    /// A set of a type we never declare is someone else's: named, not dropped.
    @Test func aSetOfAnUnknownTypeIsNamed() throws {
        let text = """
            {"nftables": [{"set": {"family": "inet", "name": "sneaky", "table": "libvirt_portfwd", "type": "ifname", "elem": ["eth0"]}}]}
            """
        let read = try NftJSON.table(text)
        #expect(read.drift(from: try planned([])).map(\.description) == ["set sneaky is not part of the plan"])
        #expect(read.set("sneaky")?.elements.map(\.description) == ["eth0"])
    }
}
