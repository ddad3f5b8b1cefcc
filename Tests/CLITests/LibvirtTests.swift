import Foundation
import Testing

/// The hook driven by a real libvirtd, on each libvirt the tool is proven on: `virsh` starts,
/// destroys and restarts things, libvirtd calls our hook, and real connections from the client
/// namespace show the result.
@Suite(.privileged, .serialized) struct RootLibvirtTests {
    static func web1(_ variant: Variant = .nftables) -> String {
        "[settings]\n\(variant.settingsLine)\n" + web1Guest
    }

    static let web1Guest = """
        [[guest]]
        name = "web1"
        address = "192.168.122.10"
        address6 = "fd00:122::10"
        forwards = ["8080:80"]
        """

    /// Every host, with our backends for the lifecycle cases: the nftables table, and the
    /// iptables backend in the flavour the host's iptables defaults to.
    static let hostsAndBackends: [(LibvirtHost, Variant)] = LibvirtHost.allCases.flatMap { [($0, .nftables), ($0, .iptablesNft)] }

    func lab(_ config: String, _ host: LibvirtHost, _ variant: Variant = .nftables, guestAddresses: [String] = ["192.168.122.10"],
             guestMAC: String = "52:54:00:00:00:10") throws -> LibvirtLab {
        let lab = try LibvirtLab(config: config, host: host, guestAddresses: guestAddresses, guestMAC: guestMAC)
        lab.variant = variant
        return lab
    }

    /// Serves port 80 in the guest namespace, defines and starts web1, and checks 8080 reaches it.
    func startWeb1(_ lab: LibvirtLab) throws {
        try lab.serveInGuest(port: 80)
        try lab.define("web1", mac: "52:54:00:00:00:10")
        try lab.virsh("start web1")
        #expect(lab.reach(port: 8080) == "guest-192.168.122.10")
    }

    @Test(arguments: hostsAndBackends)
    func startMakesAConfigForwardWorkAndDestroyRemovesIt(host: LibvirtHost, variant: Variant) throws {
        let lab = try lab(Self.web1(variant), host, variant)
        defer { lab.close() }
        try lab.serveInGuest(port: 80)
        try lab.define("web1", mac: "52:54:00:00:00:10")
        #expect(lab.connect(port: 8080) == nil)
        try lab.virsh("start web1")
        #expect(lab.reach(port: 8080) == "guest-192.168.122.10")
        #expect(lab.records.count == 1)

        try lab.virsh("destroy web1")
        #expect(lab.connect(port: 8080) == nil)
        if variant.isIptables {
            let rules = try lab.inLab("iptables -t nat -S LIBVIRT_PORTFWD_PRE 2>/dev/null || true")
            #expect(!rules.contains("DNAT"), "no DNAT rules may remain once the guest is gone: \(rules)")
        } else {
            #expect(try lab.dnatElements().isEmpty, "the table must hold no forwards once the guest is gone")
        }
        #expect(lab.records.isEmpty)
        lab.record("start, destroy")
    }

    /// IPv6, hairpin (the guest reaching its own forward through the host's address) and the
    /// host reaching a forward through one of its own addresses.
    @Test(arguments: LibvirtHost.allCases)
    func ipv6HairpinAndHostLocalTraffic(host: LibvirtHost) throws {
        let lab = try lab(Self.web1(), host)
        defer { lab.close() }
        try startWeb1(lab)
        // socat names the IPv6 address it was reached on in full.
        #expect(lab.reach("2001:db8::1", port: 8080)?.hasPrefix("guest-[fd00:0122:") == true)
        #expect(lab.connect(from: "guest", port: 8080) == "guest-192.168.122.10")
        #expect(lab.connect(from: "host", port: 8080) == "guest-192.168.122.10")
        // nftables >= 1.0.7 (Debian 13's 1.1.3) removes the old table with `destroy`.
        let export = try lab.tool("export")
        #expect(export.contains(host.root == nil ? "delete table inet libvirt_portfwd" : "destroy table inet libvirt_portfwd"))
        lab.record("IPv6, hairpin, host-local")
    }

    @Test(arguments: LibvirtHost.allCases)
    func metadataForwardSetWithVirshWorks(host: LibvirtHost) throws {
        let lab = try lab("", host)
        defer { lab.close() }
        try lab.serveInGuest(port: 80)
        try lab.define("web1", mac: "52:54:00:00:00:10")
        try lab.virsh("""
            metadata web1 urn:libvirt-portfwd:1 --key portfwd --config --set \
            '<forwards><forward spec="8080:80" source="203.0.113.0/24"/><address>192.168.122.10</address></forwards>'
            """)
        try lab.virsh("start web1")
        #expect(lab.reach("203.0.113.1", port: 8080) == "guest-192.168.122.10")
        // The source restriction holds: the same client from 198.51.100.2 is turned away.
        #expect(lab.connect(to: "198.51.100.1", port: 8080) == nil)
        lab.record("metadata")
    }

    @Test(arguments: LibvirtHost.allCases)
    func addressIsDiscoveredFromAStaticDHCPHost(host: LibvirtHost) throws {
        // No address anywhere in config or metadata: the network's <host mac= ip=/> supplies it.
        let lab = try lab("[[guest]]\nname = \"web1\"\nforwards = [\"8080:80\"]\n", host)
        defer { lab.close() }
        try startWeb1(lab)
        let record = try String(contentsOfFile: "\(lab.stateDir)/\(lab.records[0])", encoding: .utf8)
        #expect(record.contains("\"addressSource\" : \"dhcp-host\""))
        lab.record("DHCP host discovery")
    }

    @Test(arguments: hostsAndBackends)
    func restartingLibvirtdReconnectsAndHealsLostRules(host: LibvirtHost, variant: Variant) throws {
        let lab = try lab(Self.web1(variant), host, variant)
        defer { lab.close() }
        try startWeb1(lab)
        // While libvirtd is down, our rules disappear (someone ran `nft flush ruleset`, say).
        _ = try lab.inLab("kill -9 $(cat \(LibvirtLab.base)/\(lab.name)/libvirtd.pid)")
        _ = try lab.inLab(variant.isIptables ? "iptables -t nat -F LIBVIRT_PORTFWD_PRE" : "nft delete table inet libvirt_portfwd")
        #expect(lab.connect(port: 8080) == nil)
        try lab.lab("restart-libvirtd")
        #expect(try lab.virsh("domstate web1").contains("running"))
        #expect(lab.reach(port: 8080) == "guest-192.168.122.10", "reconnect must re-apply the forward")
        lab.record("reconnect")
    }

    @Test(arguments: hostsAndBackends)
    func networkRestartKeepsForwardsWorking(host: LibvirtHost, variant: Variant) throws {
        let lab = try lab(Self.web1(variant), host, variant)
        defer { lab.close() }
        try startWeb1(lab)
        try lab.virsh("net-destroy default")
        try lab.virsh("net-start default")
        // libvirt re-created its rules; ours must still be above its reject, once.
        let chain = try lab.admissionChain()
        #expect(LibvirtLab.admitsAboveReject(chain), "\(chain)")
        try lab.lab("reattach")
        #expect(lab.reach(port: 8080) == "guest-192.168.122.10")
        lab.record("network restart")
    }

    /// No guest recorded (`apply --all` on a host that uses no hook for these forwards):
    /// neither a network restart nor a libvirtd restart, which runs no network hook at all,
    /// may push admission down (libvirt 11's nftables backend re-inserts its rules first in
    /// guest_input; ours sits first in `forward`, which it never reorders).
    @Test(arguments: LibvirtHost.allCases)
    func withoutRecordedGuestsRestartsKeepForwardsWorking(host: LibvirtHost) throws {
        let lab = try lab(Self.web1(), host)
        defer { lab.close() }
        try lab.serveInGuest(port: 80)
        try lab.tool("apply --all")
        #expect(lab.reach(port: 8080) == "guest-192.168.122.10")
        try lab.virsh("net-destroy default")
        try lab.virsh("net-start default")
        try lab.lab("reattach")
        #expect(lab.reach(port: 8080) == "guest-192.168.122.10", "after a network restart")
        try lab.lab("restart-libvirtd")
        #expect(lab.reach(port: 8080) == "guest-192.168.122.10", "after a libvirtd restart")
        let chain = try lab.admissionChain()
        #expect(LibvirtLab.admitsAboveReject(chain), "\(chain)")
        lab.record("restarts without recorded guests")
    }

    @Test(arguments: LibvirtHost.allCases)
    func conflictingGuestFailsToStartWithOurMessage(host: LibvirtHost) throws {
        let lab = try lab(Self.web1Guest + """

            [[guest]]
            name = "web2"
            address = "192.168.122.11"
            forwards = ["8080:8080"]
            """, host)
        defer { lab.close() }
        try lab.define("web1", mac: "52:54:00:00:00:10")
        try lab.define("web2", mac: "52:54:00:00:00:11")
        try lab.virsh("start web1")
        let result = lab.virshResult("start web2")
        #expect(result.status != 0)
        #expect(result.stderr.contains("cannot start guest web2: conflict: tcp port 8080 on every address: guests web1 and web2 both claim it"),
                "virsh said: \(result.stderr)")
        #expect(try lab.virsh("domstate web2").contains("shut off"))
        lab.record("a refused conflict")
    }

    @Test(arguments: LibvirtHost.allCases)
    func tenGuestsStartedConcurrentlyAllGetTheirForwards(host: LibvirtHost) throws {
        // Not .10: the network's static DHCP host gives that to another MAC. The guest namespace
        // stands in for all ten guests, at one MAC they share: each guest's own address counts
        // once the host has seen it in use at the guest's MAC, which the namespace shows.
        let addresses = (20..<30).map { "192.168.122.\($0)" }
        let mac = "52:54:00:00:01:00"
        let lab = try lab("", host, guestAddresses: addresses, guestMAC: mac)
        defer { lab.close() }
        try lab.serveInGuest(port: 80)
        for i in 0..<10 {
            let meta = "<pfw:forwards xmlns:pfw='urn:libvirt-portfwd:1'><pfw:forward "
                + "spec='\(9000 + i):80'/><pfw:address>\(addresses[i])</pfw:address></pfw:forwards>"
            try lab.define("g\(i)", mac: mac, metadata: meta)
        }
        let starts = (0..<10).map { "( \(LibvirtLab.script) virsh start g\($0) >/dev/null || echo FAILED g\($0) ) &" }.joined(separator: "\n")
        let out = try Shell.run("""
            export LAB=\(lab.name) LAB_BASE=\(LibvirtLab.base)
            \(starts)
            wait
            """)
        #expect(!out.contains("FAILED"), "\(out)")
        for i in 0..<10 {
            #expect(lab.reach(port: 9000 + i) == "guest-\(addresses[i])")
        }
        let elements = try lab.dnatElements()
        #expect(Set(elements) == Set((0..<10).map { "tcp . \(9000 + $0) : \(addresses[$0]) . 80" }), "\(elements)")
        #expect(lab.records.count == 10)
        lab.record("ten concurrent starts")
    }
}
