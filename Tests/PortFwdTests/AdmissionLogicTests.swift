import Testing
@testable import PortFwd
@testable import PortFwdCore
@testable import PortFwdSystem

/// Admission's decisions against the in-memory firewall, asserted on the rules that result;
/// the kernel side is in RootAdmissionTests.
@Suite struct AdmissionLogicTests {
    let ours = "-m connmark --mark 0x10000000/0x10000000 -m comment --comment libvirt-portfwd -j ACCEPT"
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

    @Test func insertsOneRuleFirstInFrontOfLibvirt() throws {
        libvirtChains()
        try apply()
        #expect(forward == [ours, "-j LIBVIRT_FWX", "-j LIBVIRT_FWI", "-j LIBVIRT_FWO"])
    }

    @Test func correctRuleMeansNoRestore() throws {
        libvirtChains()
        try apply()
        let restores = host.iptables.calls.filter { $0.argv[0].hasSuffix("-restore") }.count
        try apply()
        #expect(host.iptables.calls.filter { $0.argv[0].hasSuffix("-restore") }.count == restores)
    }

    @Test func duplicatesAndDisplacedRulesEndAsOneFirst() throws {
        libvirtChains()
        host.iptables.seed("iptables-nft", ["-N DOCKER-USER", "-I FORWARD 1 -j DOCKER-USER", "-I FORWARD 2 \(ours)", "-A FORWARD \(ours)"])
        try apply()
        #expect(forward == [ours, "-j DOCKER-USER", "-j LIBVIRT_FWX", "-j LIBVIRT_FWI", "-j LIBVIRT_FWO"])
    }

    @Test func dropPolicyAloneIsAnObstacle() throws {
        host.iptables.seed("iptables-nft", ["-P FORWARD DROP"])
        try apply()
        #expect(forward == [ours])
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
        #expect(forward.first == "-m connmark --mark 0x20000000/0x20000000 -m comment --comment libvirt-portfwd -j ACCEPT")
        #expect(forward.filter { $0.contains("libvirt-portfwd") }.count == 1)
    }

    @Test func legacyAndBothFamiliesAreCoveredWhereLibvirtIs() throws {
        libvirtChains("iptables-legacy")
        libvirtChains("ip6tables-nft")
        try apply()
        #expect(host.iptables.rules("iptables-legacy", "filter", "FORWARD").first == ours)
        #expect(host.iptables.rules("ip6tables-nft", "filter", "FORWARD").first == ours)
        #expect(!host.iptables.hasTable(.nft, .ipv4, "filter"), "no table is created just for admission")
    }

    /// libvirt >= 10.4: our rule goes first in the base chain `forward`, which libvirt never
    /// reorders; an older one of ours in guest_input goes away.
    @Test func libvirtNftablesAdmissionGoesFirstInForward() throws {
        host.nft.addLibvirtTables(families: [.ipv4, .ipv6])
        host.nft.libvirt[.ipv4]!["guest_input"]!.insert(.init(handle: 5, text: "old", comment: "libvirt-portfwd mark 0x10000000"), at: 0)
        try apply()
        for family in Family.allCases {
            #expect(host.nft.rules(family, "forward") == [LibvirtForwardChain.statement(.default), "counter jump guest_cross", "counter jump guest_input", "counter jump guest_output"])
            #expect(!host.nft.rules(family, "guest_input").contains("old"))
        }
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
        #expect(host.iptables.rules("iptables-legacy", "filter", "FORWARD").first == ours)
        #expect(!host.iptables.rules("iptables-nft", "filter", "FORWARD").contains(ours))
    }
}
