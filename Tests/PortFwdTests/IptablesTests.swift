import Foundation
import Testing
@testable import PortFwd
@testable import PortFwdCore
import PortFwdSystem

@Suite(.privileged, .serialized) struct RootIptablesTests {
    func backend(_ ns: Namespace, _ flavour: IptablesFlavour, _ commands: NamespacedCommands? = nil) -> IptablesBackend {
        IptablesBackend(commands: commands ?? ns.commands(), nft: nil, flavour: flavour, procNet: ns.procNet)
    }

    static let one = "[settings]\nadmission = \"none\"\n[[guest]]\nname = \"a\"\naddress = \"192.168.122.10\"\naddress6 = \"fd00:122::10\"\nforwards "
        + "= [\"8080:80\", \"8000-8009:9000-9009/udp\"]\n"
    static let other = "[settings]\nadmission = \"none\"\n[[guest]]\nname = \"a\"\naddress = \"192.168.122.10\"\nforwards = [\"9090:90\"]\n"

    /// A refusal by the real iptables-restore at any commit, with the IPv4 commit already done
    /// when the IPv6 one fails, leaves every rule as it was (hardening, class 4).
    @Test(arguments: IptablesFlavour.allCases)
    func aRefusedCommitAnywhereLeavesThePreviousChainsExactly(flavour: IptablesFlavour) throws {
        try Namespace.with { ns in
            try backend(ns, flavour).apply(try Fixtures.plan(Self.other))
            let before = try ns.save(flavour)
            #expect(before.contains("--dport 9090 -j DNAT"))
            // other -> one: IPv4 nat and filter, then IPv6 nat and filter: four commits.
            for k in 0..<4 {
                let error = expectError(PortFwdError.self) {
                    try backend(ns, flavour, ns.commands(failCommit: k, corrupt: true)).apply(try Fixtures.plan(Self.one))
                }
                #expect(error?.message.hasSuffix("; nothing changed") == true, "commit \(k): \(String(describing: error))")
                #expect(try ns.save(flavour) == before, "commit \(k)")
            }
            try backend(ns, flavour).apply(try Fixtures.plan(Self.one))
            #expect(try ns.save(flavour).contains("--to-destination [fd00:122::10]:80"))
        }
    }

    @Test(arguments: IptablesFlavour.allCases)
    func flushLeavesIptablesSaveAsBeforeInstall(flavour: IptablesFlavour) throws {
        try Namespace.with { ns in
            // libvirt 9's own rules for a NAT network, in filter and nat, as the host would have them.
            let tool = "iptables-\(flavour.rawValue)"
            try Shell.run("""
                set -e
                ip netns exec \(ns.name) sh -ec '
                for c in LIBVIRT_FWX LIBVIRT_FWI LIBVIRT_FWO; do \(tool) -N $c; \(tool) -A FORWARD -j $c; done
                \(tool) -A LIBVIRT_FWI -o virbr0 -j REJECT
                \(tool) -t nat -N LIBVIRT_PRT; \(tool) -t nat -A POSTROUTING -j LIBVIRT_PRT
                \(tool) -t nat -A LIBVIRT_PRT -s 192.168.122.0/24 ! -d 192.168.122.0/24 -j MASQUERADE
                \(tool) -t mangle -N LIBVIRT_PRT; \(tool) -t mangle -A POSTROUTING -j LIBVIRT_PRT'
                """)
            let before = try ns.save(flavour)
            let b = backend(ns, flavour)
            try b.apply(try Fixtures.plan(Self.other))
            try b.apply(try Fixtures.plan(Self.other))
            let installed = try ns.save(flavour)
            #expect(installed.contains("-A PREROUTING ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -m comment --comment libvirt-portfwd -j "
                + "LIBVIRT_PORTFWD_PRE"))
            #expect(installed.components(separatedBy: "-j LIBVIRT_PORTFWD_FWD").count == 2, "exactly one FORWARD jump")
            try b.remove()
            #expect(try ns.save(flavour) == before)
        }
    }

    @Test func dnatJumpsMoveBackToTheTopAndStayUnique() throws {
        try Namespace.with { ns in
            let b = backend(ns, .nft)
            try b.apply(try Fixtures.plan(Self.other))
            try Shell.run("ip netns exec \(ns.name) iptables-nft -I FORWARD 1 -j ACCEPT; ip netns exec \(ns.name) iptables-nft -t nat -I PREROUTING "
                + "1 -j RETURN")
            // The DNAT jump belongs first; the admitting one only above what rejects (nothing
            // here), so a rule put above it stays there.
            #expect(try b.drift(from: try Fixtures.plan(Self.other)).map(\.description) == [
                "iptables-nft: the jump from PREROUTING to LIBVIRT_PORTFWD_PRE is not first",
            ])
            try b.apply(try Fixtures.plan(Self.other))
            let forward = try Shell.run("ip netns exec \(ns.name) iptables-nft -S FORWARD").split(separator: "\n").filter { $0.hasPrefix("-A") }
            #expect(forward == ["-A FORWARD -j ACCEPT", "-A FORWARD -m comment --comment libvirt-portfwd -j LIBVIRT_PORTFWD_FWD"], "\(forward)")
            #expect(forward.filter { $0.hasSuffix("-j LIBVIRT_PORTFWD_FWD") }.count == 1)
            let pre = try Shell.run("ip netns exec \(ns.name) iptables-nft -t nat -S PREROUTING").split(separator: "\n").filter { $0.hasPrefix("-A") }
            #expect(pre.first?.hasSuffix("-j LIBVIRT_PORTFWD_PRE") == true, "\(pre)")
            #expect(try b.drift(from: try Fixtures.plan(Self.other)) == [])
        }
    }

    /// The chains as iptables-save prints them are exactly the rendered rules: `status` finds
    /// no drift after an apply, and any edit to a chain of ours.
    @Test(arguments: IptablesFlavour.allCases)
    func installedChainsCompareEqualToThePlan(flavour: IptablesFlavour) throws {
        try Namespace.with { ns in
            let b = backend(ns, flavour)
            let plan = try Fixtures.plan(try String(contentsOfFile: "\(Paths.rulesets)/full.toml", encoding: .utf8))
            try b.apply(plan)
            #expect(try b.drift(from: plan) == [])
            try Shell.run("ip netns exec \(ns.name) iptables-\(flavour.rawValue) -t nat -D LIBVIRT_PORTFWD_PRE 1")
            #expect(try b.drift(from: plan).map(\.description) == ["iptables-\(flavour.rawValue): chain LIBVIRT_PORTFWD_PRE differs from the plan"])
        }
    }

    @Test func familyWithoutForwardsGetsNoChains() throws {
        try Namespace.with { ns in
            let b = backend(ns, .nft)
            try b.apply(try Fixtures.plan(Self.one))
            #expect(try Shell.run("ip netns exec \(ns.name) ip6tables-nft-save").contains("LIBVIRT_PORTFWD_PRE"))
            try b.apply(try Fixtures.plan(Self.other))
            #expect(try !Shell.run("ip netns exec \(ns.name) ip6tables-nft-save").contains("LIBVIRT_PORTFWD"))
            #expect(try Shell.run("ip netns exec \(ns.name) iptables-nft-save").contains("--dport 9090 -j DNAT"))
        }
    }
}

@Suite struct IptablesCounterTests {
    @Test func eachForwardsRulesOnBothSidesAreFoundByTheirText() throws {
        let plan = try Fixtures.plan("""
            [[guest]]
            name = "web1"
            address = "192.168.122.10"
            address6 = "fd00:122::10"
            forwards = ["8080:80", "8081:80", "9000-9009/udp"]
            """)
        let owner = "guest-" + GuestName.digest(try GuestName("web1"))
        let save = """
            *mangle
            :LIBVIRT_PORTFWD_CNT - [0:0]
            :LIBVIRT_PORTFWD_DLV - [0:0]
            [7:420] -A LIBVIRT_PORTFWD_CNT -p tcp -m conntrack --ctorigdstport 8080 -m comment --comment \(owner) -j RETURN
            [5:900] -A LIBVIRT_PORTFWD_CNT -p tcp -m conntrack --ctorigdstport 8081 -m comment --comment \(owner) -j RETURN
            [1:60] -A LIBVIRT_PORTFWD_CNT -p udp -m conntrack --ctorigdstport 9000:9009 -m comment --comment another-owner -j RETURN
            [0:0] -A LIBVIRT_PORTFWD_DLV -m addrtype --src-type LOCAL -j RETURN
            [6:400] -A LIBVIRT_PORTFWD_DLV -p tcp -m conntrack --ctorigdstport 8080 -m comment --comment \(owner) -j RETURN
            COMMIT
            """
        let counters = IptablesBackend.counters(of: plan.entries(.ipv4), in: IptablesRuleset(parsing: save))
        let key = { (port: UInt16) in ForwardKey(family: .ipv4, hostAddress: nil, proto: .tcp, hostPorts: PortRange(port: port)!) }
        #expect(counters[key(8080)] == ForwardCounters(owner: owner, dnat: Counts(packets: 7, bytes: 420), delivered: Counts(packets: 6, bytes: 400)))
        #expect(counters[key(8081)] == ForwardCounters(owner: owner, dnat: Counts(packets: 5, bytes: 900), delivered: nil),
                "two host ports to one guest port count apart")
        #expect(counters.count == 2, "another owner's rule is not this forward's: \(counters)")
    }
}
