import Foundation
import Testing
@testable import PortFwd
import PortFwdCore
import PortFwdSystem

/// The other firewalls on the forward hook, read and walked with our traffic: what surely
/// drops it is named, what only may is a suspect, and what cannot match it never is. Rulesets
/// as the neighbours write them (libvirt 9, ufw, Docker, firewalld, a hardened nftables.conf);
/// RootPacketPathTests runs the same with real packets.
@Suite struct PacketPathTests {
    static let config = """
        [[guest]]
        name = "web1"
        address = "192.168.122.10"
        forwards = ["8080:80", { spec = "2222:22", sources = ["198.51.100.0/24"] }]

        """

    /// web1's plan with libvirt's default network known, as the reconciler builds it.
    func plan(_ toml: String = Self.config, bridges: [String: [Network]] = ["virbr0": [try! Network.parse("192.168.122.0/24")]]) throws -> Plan {
        let p = try Fixtures.plan(toml)
        return try Plan(guests: p.guests, settings: p.settings, isolated: p.isolated, bridges: bridges)
    }

    func iptables(_ save: String, family: Family = .ipv4, name: String = "table ip filter") -> FilterTable {
        let parsed = IptablesRuleset(parsing: save)["filter"]
        return IptablesRuleText.table(name: name, family: family, policies: parsed.chains, rules: parsed.rules.map { ($0.chain, $0.spec) })
    }

    /// An nft ruleset as the kernel lists it, read through libnftables' JSON by `nft -j` of a
    /// script in a throwaway namespace; nil (recorded) where that cannot run.
    func nft(_ script: String, table: String) throws -> FilterTable {
        let words = table.split(separator: " ").map(String.init)
        return try NftFilterJSON.table(try NftListing.json(script, table: table), family: words[0], name: words[1])
    }

    static let libvirt = """
        *filter
        :INPUT ACCEPT [0:0]
        :FORWARD ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        :LIBVIRT_FWI - [0:0]
        :LIBVIRT_FWO - [0:0]
        :LIBVIRT_FWX - [0:0]
        -A FORWARD -j LIBVIRT_FWX
        -A FORWARD -j LIBVIRT_FWI
        -A FORWARD -j LIBVIRT_FWO
        -A LIBVIRT_FWI -d 192.168.122.0/24 -o virbr0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
        -A LIBVIRT_FWI -o virbr0 -j REJECT --reject-with icmp-port-unreachable
        -A LIBVIRT_FWO -s 192.168.122.0/24 -i virbr0 -j ACCEPT
        -A LIBVIRT_FWO -i virbr0 -j REJECT --reject-with icmp-port-unreachable
        -A LIBVIRT_FWX -i virbr0 -o virbr0 -j ACCEPT
        COMMIT
        """

    @Test func libvirtsRejectTurnsEveryForwardAwayWithoutAdmission() throws {
        let flows = Flow.flows(of: try plan())
        let suspects = Suspect.find(flows, in: [iptables(Self.libvirt)])
        let sure = suspects.filter(\.sure)
        #expect(sure.map(\.description) == ["table ip filter chain FORWARD: rule 2 (-j LIBVIRT_FWI), then rule 2 (-o virbr0 -j REJECT --reject-with "
            + "icmp-port-unreachable)"])
        #expect(sure.first?.traffic == ["new connections"], "replies and established packets are let through by libvirt")
        #expect(sure.first?.forwards.count == 2)
        // With our rules above the jump, nothing drops.
        let admitted = Self.libvirt.replacingOccurrences(of: "-A FORWARD -j LIBVIRT_FWI", with: """
            -A FORWARD -m connmark --mark 0x10000000/0x10000000 -m comment --comment libvirt-portfwd -j LIBVIRT_PORTFWD_USER
            -A FORWARD -m connmark --mark 0x10000000/0x10000000 -m comment --comment libvirt-portfwd -j ACCEPT
            -A FORWARD -j LIBVIRT_FWI
            """).replacingOccurrences(of: ":LIBVIRT_FWX - [0:0]", with: ":LIBVIRT_FWX - [0:0]\n:LIBVIRT_PORTFWD_USER - [0:0]")
        #expect(Suspect.find(flows, in: [iptables(admitted)]).isEmpty)
    }

    /// Admission's place in each neighbour's FORWARD: above libvirt's reject; last under a
    /// DROP policy (Docker's, ufw's); never above a rule that only some clients meet.
    @Test(arguments: [
        ("libvirt", libvirt, 1),
        ("an admin's block first", libvirt.replacingOccurrences(of: "-A FORWARD -j LIBVIRT_FWX",
            with: "-A FORWARD -s 203.0.113.9/32 -j DROP\n-A FORWARD -j LIBVIRT_FWX"), 2),
        ("docker", """
            *filter
            :FORWARD DROP [0:0]
            :DOCKER - [0:0]
            :DOCKER-FORWARD - [0:0]
            :DOCKER-ISOLATION-STAGE-1 - [0:0]
            :DOCKER-ISOLATION-STAGE-2 - [0:0]
            :DOCKER-USER - [0:0]
            -A FORWARD -j DOCKER-USER
            -A FORWARD -j DOCKER-FORWARD
            -A DOCKER ! -i docker0 -o docker0 -j DROP
            -A DOCKER-FORWARD -j DOCKER-ISOLATION-STAGE-1
            -A DOCKER-FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
            -A DOCKER-FORWARD -o docker0 -j DOCKER
            -A DOCKER-FORWARD -i docker0 -j ACCEPT
            -A DOCKER-ISOLATION-STAGE-1 -i docker0 ! -o docker0 -j DOCKER-ISOLATION-STAGE-2
            -A DOCKER-ISOLATION-STAGE-2 -o docker0 -j DROP
            -A DOCKER-USER -s 198.51.100.7/32 -j DROP
            -A DOCKER-USER -j RETURN
            COMMIT
            """, 2),
        ("ufw", """
            *filter
            :FORWARD DROP [0:0]
            :ufw-after-forward - [0:0]
            :ufw-after-logging-forward - [0:0]
            :ufw-before-forward - [0:0]
            :ufw-before-logging-forward - [0:0]
            :ufw-reject-forward - [0:0]
            :ufw-track-forward - [0:0]
            :ufw-user-forward - [0:0]
            :ufw-user-logging-forward - [0:0]
            -A FORWARD -j ufw-before-logging-forward
            -A FORWARD -j ufw-before-forward
            -A FORWARD -j ufw-after-forward
            -A FORWARD -j ufw-after-logging-forward
            -A FORWARD -j ufw-reject-forward
            -A FORWARD -j ufw-track-forward
            -A ufw-after-logging-forward -m limit --limit 3/min --limit-burst 10 -j LOG --log-prefix "[UFW BLOCK] "
            -A ufw-before-forward -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
            -A ufw-before-forward -p icmp -m icmp --icmp-type 3 -j ACCEPT
            -A ufw-before-forward -j ufw-user-forward
            -A ufw-user-forward -s 198.51.100.2/32 -j DROP
            -A ufw-user-forward -p tcp -m tcp --dport 22 -j DROP
            COMMIT
            """, 6),
    ])
    func admissionGoesAboveWhatRejectsAndBelowTheAdmin(name: String, save: String, expected: Int) throws {
        let flows = Flow.flows(of: try plan())
        #expect(IptablesForwardChain.obstacle(in: IptablesRuleset(parsing: save), family: .ipv4, flows: flows) == expected, "\(name)")
    }

    /// The hardened nftables.conf every forward timed out behind: its policy is named, for
    /// new connections of every forward; replies pass its established rule.
    @Test(.enabled(if: Privilege.enabled)) func aHardenedNftablesConfIsNamed() throws {
        let table = try nft("""
            table inet filter {
                chain forward {
                    type filter hook forward priority filter; policy drop;
                    ct state established,related accept
                    iifname "virbr0" accept
                }
            }
            """, table: "inet filter")
        let suspects = Suspect.find(Flow.flows(of: try plan()), in: [table])
        #expect(suspects.map(\.description) == ["table inet filter chain forward: policy drop"])
        #expect(suspects.first?.sure == true && suspects.first?.traffic == ["new connections"])
    }

    /// Drops that cannot match our traffic are no suspects, in nft and in iptables alike: no
    /// false alarms. One that may (a client's address) is a suspect, never a sure one.
    @Test(.enabled(if: Privilege.enabled)) func unrelatedDropsAreNoSuspects() throws {
        let table = try nft("""
            table inet filter {
                chain forward {
                    type filter hook forward priority filter; policy accept;
                    ip daddr 10.9.9.9 oifname "virbr0" drop
                    ip daddr 192.168.122.11 oifname "virbr0" drop
                    iifname "virbr0" oifname "virbr0" reject
                    meta nfproto ipv6 drop
                    udp dport 80 drop
                    ip protocol icmp drop
                    ct state invalid drop
                    ct mark & 0x10000000 == 0 ip daddr 192.168.122.0/24 drop
                }
            }
            """, table: "inet filter")
        let found = Suspect.find(Flow.flows(of: try plan()), in: [table])
        #expect(found.map(\.description) == [], "\(found.map { "\($0) \($0.traffic)" })")
        let save = """
            *filter
            :FORWARD ACCEPT [0:0]
            -A FORWARD -d 10.0.0.0/8 -o virbr0 -j DROP
            -A FORWARD -p tcp -m tcp --dport 25 -o virbr0 -j REJECT
            -A FORWARD -p udp -m multiport --dports 80,443 -j DROP
            -A FORWARD -m conntrack --ctstate INVALID -j DROP
            -A FORWARD -s 203.0.113.9/32 -j DROP
            COMMIT
            """
        let suspects = Suspect.find(Flow.flows(of: try plan()), in: [iptables(save)])
        #expect(suspects.map(\.description) == ["table ip filter chain FORWARD: rule 5 (-s 203.0.113.9/32 -j DROP)"])
        #expect(suspects.allSatisfy { !$0.sure })
        // Only the forward open to every client can meet it: 2222 is for 198.51.100.0/24 alone.
        #expect(suspects.first?.forwards.map(\.forward.spec.description) == ["8080:80/tcp"])
    }

    /// firewalld lets every DNATed connection through before any zone (`ct status dnat accept`):
    /// nothing in its table is a suspect, however it ends.
    @Test(.enabled(if: Privilege.enabled)) func firewalldLetsDnatedTrafficThrough() throws {
        let table = try nft("""
            table inet firewalld {
                chain filter_FORWARD {
                    type filter hook forward priority filter + 10; policy accept;
                    ct state { established, related } accept
                    ct status dnat accept
                    iifname "lo" accept
                    ct state invalid drop
                    jump filter_FORWARD_ZONES
                    reject with icmpx admin-prohibited
                }
                chain filter_FORWARD_ZONES {
                    iifname "eth0" goto filter_FWD_public
                    goto filter_FWD_public
                }
                chain filter_FWD_public {
                    ip saddr 198.51.100.2 drop
                    reject with icmpx admin-prohibited
                }
            }
            """, table: "inet firewalld")
        #expect(Suspect.find(Flow.flows(of: try plan()), in: [table]).isEmpty)
    }

    /// A chain whose rules this tool cannot read may or may not drop: it is a suspect, never a
    /// sure one (a limit, a named set, an iptables extension).
    @Test func whatIsNotReadIsNeverSure() throws {
        let save = """
            *filter
            :FORWARD DROP [0:0]
            -A FORWARD -m geoip --src-cc XX -j ACCEPT
            -A FORWARD -m set --match-set blocked src -j DROP
            COMMIT
            """
        let suspects = Suspect.find(Flow.flows(of: try plan()), in: [iptables(save)])
        #expect(!suspects.isEmpty && suspects.allSatisfy { !$0.sure }, "\(suspects)")
    }

    /// Property: a drop rule built to miss our traffic (another address, port, protocol or
    /// interface, in either family) is never a suspect, whatever the rules around it; and the
    /// same rule built to hit a forward's new connections is a sure one.
    @Test func missesAreNeverSuspectsAndHitsAreSure() throws {
        let flows = Flow.flows(of: try plan())
        var rng = SplitMix.printed("PacketPathTests.missesAreNeverSuspectsAndHitsAreSure")
        // A miss misses both ways: the client's side of a reply (its address, its port, its
        // interface) may be anything, so a rule on that alone is a suspect, not a miss.
        let misses = ["-p udp", "-p icmp", "-m conntrack --ctstate INVALID", "-m connmark --mark 0x0/0x10000000",
                      "-p tcp -m tcp --dport 25 -o virbr0", "-d 10.0.0.1/32 -o virbr0", "-s 192.168.122.11/32 -i virbr0",
                      "-d 192.168.122.11/32 -o virbr0", "-i virbr0 -o virbr0", "-m conntrack --ctstate RELATED"]
        let hits = ["", "-d 192.168.122.10/32", "-p tcp", "-p tcp -m tcp --dport 80", "-o virbr0", "-m conntrack --ctstate NEW",
                    "-m conntrack --ctstate DNAT", "! -i virbr0", "-d 192.168.122.0/24 -p tcp"]
        for _ in 0..<300 {
            let miss = (0..<Int.random(in: 1...4, using: &rng)).map { _ in "-A FORWARD \(misses.randomElement(using: &rng)!) -j "
                + "\(["DROP", "REJECT"].randomElement(using: &rng)!)" }
            let save = "*filter\n:FORWARD ACCEPT [0:0]\n" + miss.shuffled(using: &rng).joined(separator: "\n") + "\nCOMMIT\n"
            #expect(Suspect.find(flows, in: [iptables(save)]).isEmpty, "\(save)")
            let hit = "-A FORWARD \(hits.randomElement(using: &rng)!) -j DROP"
            let both = "*filter\n:FORWARD ACCEPT [0:0]\n" + (miss + [hit]).shuffled(using: &rng).joined(separator: "\n") + "\nCOMMIT\n"
            #expect(Suspect.find(flows, in: [iptables(both)]).contains { $0.sure && $0.traffic.contains("new connections") }, "\(both)")
        }
    }

    @Test func iptablesRuleTextIsReadAsIptablesSaveWritesIt() {
        let rule = IptablesRuleText.rule("-s 198.51.100.0/24 ! -i virbr+ -p tcp -m tcp --dport 80:90 -m conntrack --ctstate NEW,ESTABLISHED -m "
            + "comment --comment \"a b\" -j REJECT --reject-with tcp-reset",
                                         position: "rule 1", chains: [])
        #expect(rule.verdict == .reject)
        #expect(rule.conditions == [
            Condition(.address(.source, [try! Network.parse("198.51.100.0/24")])),
            Condition(.inInterface([Condition.Name("virbr", prefix: true)]), negated: true),
            Condition(.proto([6])),
            Condition(.port(.destination, [PortRange(80, 90)!])),
            Condition(.ctState(["new", "established"])),
        ])
        #expect(IptablesRuleText.rule("-p tcp --syn -j DROP", position: "r", chains: []).verdict == .drop, "a flag takes no value")
        #expect(IptablesRuleText.rule("-j DOCKER-USER", position: "r", chains: ["DOCKER-USER"]).verdict == .jump("DOCKER-USER"))
        #expect(IptablesRuleText.rule("-j NFQUEUE --queue-num 1", position: "r", chains: []).verdict == .other("queues to a program"))
    }
}

/// nft text turned into libnftables' JSON listing by the kernel itself, in a throwaway
/// network namespace.
enum NftListing {
    static func json(_ script: String, table: String) throws -> String {
        let dir = TempDir()
        dir.write("t.nft", script)
        let ns = "pfj\(UInt32.random(in: 0...UInt32.max))"
        try Shell.run("ip netns add \(ns)")
        defer { _ = Shell.capture("ip netns del \(ns)") }
        try Shell.run("ip netns exec \(ns) nft -f \(dir.path)/t.nft")
        return try Shell.run("ip netns exec \(ns) nft -j list table \(table)")
    }
}
