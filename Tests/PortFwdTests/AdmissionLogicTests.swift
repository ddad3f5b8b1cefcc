import Testing
@testable import PortFwd
import PortFwdCore
import PortFwdSystem

/// Admission's decisions against the in-memory firewall, asserted on the rules that result;
/// the kernel side is in RootAdmissionTests.
@Suite struct AdmissionLogicTests {
    let ours = "-m connmark --mark 0x10000000/0x10000000 -m comment --comment libvirt-portfwd -j ACCEPT"
    let user = "-m connmark --mark 0x10000000/0x10000000 -m comment --comment libvirt-portfwd -j LIBVIRT_PORTFWD_USER"
    let host = FakeHost()

    func libvirtChains(_ tool: String = "iptables-nft") {
        host.iptables.seed(tool, ["-N LIBVIRT_FWX", "-N LIBVIRT_FWI", "-N LIBVIRT_FWO",
                                  "-A FORWARD -j LIBVIRT_FWX", "-A FORWARD -j LIBVIRT_FWI", "-A FORWARD -j LIBVIRT_FWO",
                                  "-A LIBVIRT_FWI -o virbr0 -j REJECT"])
    }

    func apply(_ settings: String = "") throws {
        let backend = NftablesBackend(nft: host.nft, commands: host.iptables, procNet: host.iptables.procNet.path)
        try backend.apply(try Fixtures.plan(settings + Fixtures.web1))
    }

    var forward: [String] { host.iptables.rules("iptables-nft", "filter", "FORWARD") }

    /// Directly above the jump that rejects (LIBVIRT_FWI), with the admin's chain before our accept.
    @Test func goesDirectlyAboveLibvirtsReject() throws {
        libvirtChains()
        try apply()
        #expect(forward == ["-j LIBVIRT_FWX", user, ours, "-j LIBVIRT_FWI", "-j LIBVIRT_FWO"])
        #expect(host.iptables.rules("iptables-nft", "filter", IptablesRenderer.user).isEmpty, "the admin's chain, made empty")
    }

    /// The admin keeps the last word: a rule put above ours stays above, and no apply (or
    /// repair) moves ours over it.
    @Test func anAdminsRuleAboveOursStaysAbove() throws {
        libvirtChains()
        try apply()
        host.iptables.seed("iptables-nft", ["-I FORWARD 1 -s 203.0.113.9/32 -j DROP", "-A LIBVIRT_PORTFWD_USER -s 198.51.100.7/32 -j DROP"])
        let restores = host.iptables.calls.filter { $0.argv[0].hasSuffix("-restore") }.count
        try apply()
        #expect(forward == ["-s 203.0.113.9/32 -j DROP", "-j LIBVIRT_FWX", user, ours, "-j LIBVIRT_FWI", "-j LIBVIRT_FWO"])
        #expect(host.iptables.calls.filter { $0.argv[0].hasSuffix("-restore") }.count == restores, "nothing to repair")
        #expect(host.iptables.rules("iptables-nft", "filter", IptablesRenderer.user) == ["-s 198.51.100.7/32 -j DROP"], "never emptied")
        let backend = NftablesBackend(nft: host.nft, commands: host.iptables, procNet: host.iptables.procNet.path)
        #expect(try backend.admissionDrift(try Fixtures.plan(Fixtures.web1)) == [])
    }

    /// Ours below libvirt's reject does not help: repaired, directly above it again.
    @Test func oursBelowTheRejectIsRepaired() throws {
        libvirtChains()
        try apply()
        host.iptables.seed("iptables-nft", ["-D FORWARD \(user)", "-D FORWARD \(ours)", "-A FORWARD \(user)", "-A FORWARD \(ours)"])
        let backend = NftablesBackend(nft: host.nft, commands: host.iptables, procNet: host.iptables.procNet.path)
        #expect(try backend.admissionDrift(try Fixtures.plan(Fixtures.web1)) == [.admission(place: "iptables-nft FORWARD", .misplaced)])
        try apply()
        #expect(forward == ["-j LIBVIRT_FWX", user, ours, "-j LIBVIRT_FWI", "-j LIBVIRT_FWO"])
    }

    /// Docker: FORWARD's policy is DROP, and DOCKER-USER comes first: ours goes last, after
    /// every rule of Docker's and of the admin's.
    @Test func underDockerOursGoesLastAfterDockerUser() throws {
        host.iptables.seed("iptables-nft", ["-P FORWARD DROP", "-N DOCKER-USER", "-N DOCKER-FORWARD", "-N DOCKER",
                                            "-A FORWARD -j DOCKER-USER", "-A FORWARD -j DOCKER-FORWARD",
                                            "-A DOCKER-USER -s 198.51.100.7/32 -j DROP", "-A DOCKER-USER -j RETURN",
                                            "-A DOCKER-FORWARD -o docker0 -j DOCKER", "-A DOCKER -i docker0 -j RETURN",
                                            "-A DOCKER ! -i docker0 -o docker0 -j DROP"])
        try apply()
        #expect(forward == ["-j DOCKER-USER", "-j DOCKER-FORWARD", user, ours])
    }

    @Test func correctRuleMeansNoRestore() throws {
        libvirtChains()
        try apply()
        let restores = host.iptables.calls.filter { $0.argv[0].hasSuffix("-restore") }.count
        try apply()
        #expect(host.iptables.calls.filter { $0.argv[0].hasSuffix("-restore") }.count == restores)
    }

    @Test func duplicatesAndDisplacedRulesEndAsOneAboveTheReject() throws {
        libvirtChains()
        host.iptables.seed("iptables-nft", ["-N DOCKER-USER", "-I FORWARD 1 -j DOCKER-USER", "-I FORWARD 2 \(ours)", "-A FORWARD \(ours)"])
        try apply()
        #expect(forward == ["-j DOCKER-USER", "-j LIBVIRT_FWX", user, ours, "-j LIBVIRT_FWI", "-j LIBVIRT_FWO"])
    }

    @Test func dropPolicyAloneIsAnObstacle() throws {
        host.iptables.seed("iptables-nft", ["-P FORWARD DROP"])
        try apply()
        #expect(forward == [user, ours])
    }

    @Test func noObstacleRemovesAStaleRuleOfOurs() throws {
        host.iptables.seed("iptables-nft", ["-A FORWARD \(ours)"])
        try apply()
        #expect(forward.isEmpty)
    }

    @Test func aChangedMarkReplacesTheRule() throws {
        libvirtChains()
        try apply()
        try apply("[settings]\nmark = 0x20000000\n")
        #expect(forward[2] == "-m connmark --mark 0x20000000/0x20000000 -m comment --comment libvirt-portfwd -j ACCEPT")
        #expect(forward.filter { $0.contains("libvirt-portfwd") }.count == 2)
    }

    @Test func legacyAndBothFamiliesAreCoveredWhereLibvirtIs() throws {
        libvirtChains("iptables-legacy")
        libvirtChains("ip6tables-nft")
        // An IPv6 forward needs the IPv6 rule (and a plan without one, none).
        try apply("[[guest]]\nname = \"v6\"\naddress6 = \"fd00:122::11\"\nforwards = [\"9090:90\"]\n")
        #expect(host.iptables.rules("iptables-legacy", "filter", "FORWARD") == ["-j LIBVIRT_FWX", user, ours, "-j LIBVIRT_FWI", "-j LIBVIRT_FWO"])
        #expect(host.iptables.rules("ip6tables-nft", "filter", "FORWARD") == ["-j LIBVIRT_FWX", user, ours, "-j LIBVIRT_FWI", "-j LIBVIRT_FWO"])
        #expect(!host.iptables.hasTable(.nft, .ipv4, "filter"), "no table is created just for admission")
    }

    /// libvirt >= 10.4: our rule goes first in the base chain `forward`, which libvirt never
    /// reorders; an older one of ours in guest_input goes away.
    @Test func libvirtNftablesAdmissionGoesFirstInForward() throws {
        host.nft.addLibvirtTables(families: [.ipv4, .ipv6])
        host.nft.libvirt[.ipv4]!["guest_input"]!.insert(.init(handle: 5, text: "old", comment: "libvirt-portfwd mark 0x10000000"), at: 0)
        try apply()
        for family in Family.allCases {
            #expect(host.nft.rules(family, "forward") == [LibvirtForwardChain.rule(.default).text, "counter jump guest_cross",
                "counter jump guest_input", "counter jump guest_output"])
            #expect(!host.nft.rules(family, "guest_input").contains("old"))
        }
    }

    /// Our rule in libvirt's `forward` made a drop under a copy of its comment: what it does is
    /// read from its expression, so it is drift, and the next install puts the accept back.
    @Test func libvirtNftablesAdmissionChangedUnderItsCommentIsRepaired() throws {
        host.nft.addLibvirtTables(families: [.ipv4])
        try apply()
        let plan = try Fixtures.plan(Fixtures.web1)
        let backend = NftablesBackend(nft: host.nft, commands: host.iptables, procNet: host.iptables.procNet.path)
        #expect(try backend.drift(from: plan) == [])
        let accept = LibvirtForwardChain.rule(.default)
        let rules = host.nft.libvirt[.ipv4]?["forward"] ?? []
        let index = try #require(rules.firstIndex { $0.comment == accept.comment })
        host.nft.libvirt[.ipv4]!["forward"]![index].text = "ct mark & 0x10000000 == 0x10000000 counter drop"
        #expect(try backend.drift(from: plan) == [.admission(place: "ip libvirt_network forward", .misplaced)])
        try apply()
        #expect(try backend.drift(from: plan) == [])
        #expect(host.nft.rules(.ipv4, "forward").first == accept.text)
    }

    /// What our rule in libvirt's chain does, as the kernel lists it: a mark the admin named in
    /// rt_marks is listed by name, which the reader cannot read, and the comment vouches for it;
    /// another verdict, another mark or a condition more is not ours.
    @Test func admissionIsJudgedByWhatTheRuleDoes() throws {
        func rule(mark: String, verdict: String = #"{"accept": null}"#, more: String = "") throws -> NftJSON.Rule {
            let match = #"{"match": {"op": "==", "left": {"&": [{"ct": {"key": "mark"}}, \#(mark)]}, "right": \#(mark)}}"#
            let listing = #"{"nftables": [{"rule": {"family": "ip", "table": "libvirt_network", "chain": "forward", "handle": 9, "#
                + #""comment": "libvirt-portfwd mark 0x10000000", "expr": [\#(more)\#(match), {"counter": {"packets": 0, "bytes": 0}}, "#
                + #"\#(verdict)]}}]}"#
            return try #require(try NftJSON.rules(listing).first)
        }
        #expect(LibvirtForwardChain.admits(try rule(mark: "268435456"), .default))
        #expect(LibvirtForwardChain.admits(try rule(mark: #""portfwd""#), .default), "a named mark: the comment's word")
        #expect(!LibvirtForwardChain.admits(try rule(mark: "268435456", verdict: #"{"drop": null}"#), .default))
        #expect(!LibvirtForwardChain.admits(try rule(mark: "1"), .default))
        let source = #"{"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}}, "right": "203.0.113.9"}}, "#
        #expect(!LibvirtForwardChain.admits(try rule(mark: "268435456", more: source), .default), "only the marked traffic from one source")
    }

    @Test func modeNoneRemovesEveryRuleOfOurs() throws {
        libvirtChains()
        host.nft.addLibvirtTables()
        try apply()
        try apply("[settings]\nadmission = \"none\"\n")
        #expect(!forward.contains(ours))
        #expect(host.nft.rules(.ipv4, "forward").count == 3)
    }

    @Test func forcedIptablesPicksTheFlavourLibvirtUses() throws {
        libvirtChains("iptables-legacy")
        host.iptables.seed("iptables-nft", ["-N OTHER"])
        try apply("[settings]\nadmission = \"iptables\"\n")
        #expect(host.iptables.rules("iptables-legacy", "filter", "FORWARD").contains(ours))
        #expect(!host.iptables.rules("iptables-nft", "filter", "FORWARD").contains(ours))
    }
}
