import Foundation
import Testing

/// The hook driven by a real libvirtd: `virsh` starts, destroys and restarts things, libvirtd
/// calls our hook, and real connections from the client namespace show the result.
@Suite(.privileged, .serialized) struct RootLibvirtTests {
    static func web1(_ variant: Variant = .nftables) -> String {
        "[settings]\n\(variant.settingsLine)\n" + web1Guest
    }

    static let web1Guest = """
        [[guest]]
        name = "web1"
        address = "192.168.122.10"
        forwards = ["8080:80"]
        """

    /// Serves port 80 in the guest namespace, defines and starts web1, and checks 8080 reaches it.
    func startWeb1(_ lab: LibvirtLab) throws {
        try lab.serveInGuest(port: 80)
        try lab.define("web1", mac: "52:54:00:00:00:10")
        try lab.virsh("start web1")
        #expect(lab.reach(port: 8080) == "guest-192.168.122.10")
    }

    /// The backends the lifecycle cases run on; the lab's libvirt uses iptables-nft.
    static let backends: [Variant] = [.nftables, .iptablesNft]

    @Test(arguments: backends)
    func startMakesAConfigForwardWorkAndDestroyRemovesIt(variant: Variant) throws {
        let lab = try LibvirtLab(config: Self.web1(variant))
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
    }

    @Test func metadataForwardSetWithVirshWorks() throws {
        let lab = try LibvirtLab(config: "")
        defer { lab.close() }
        try lab.serveInGuest(port: 80)
        try lab.define("web1", mac: "52:54:00:00:00:10")
        try lab.virsh("""
            metadata web1 urn:libvirt-portfwd:1 --key portfwd --config --set '<forwards><forward spec="8080:80" source="203.0.113.0/24"/><address>192.168.122.10</address></forwards>'
            """)
        try lab.virsh("start web1")
        #expect(lab.reach("203.0.113.1", port: 8080) == "guest-192.168.122.10")
        // The source restriction holds: the same client from 198.51.100.2 is turned away.
        #expect(lab.connect(to: "198.51.100.1", port: 8080) == nil)
    }

    @Test func addressIsDiscoveredFromAStaticDHCPHost() throws {
        // No address anywhere in config or metadata: the network's <host mac= ip=/> supplies it.
        let lab = try LibvirtLab(config: "[[guest]]\nname = \"web1\"\nforwards = [\"8080:80\"]\n")
        defer { lab.close() }
        try startWeb1(lab)
        let record = try String(contentsOfFile: "\(lab.stateDir)/\(lab.records[0])", encoding: .utf8)
        #expect(record.contains("\"addressSource\" : \"dhcp-host\""))
    }

    @Test(arguments: backends)
    func restartingLibvirtdReconnectsAndHealsLostRules(variant: Variant) throws {
        let lab = try LibvirtLab(config: Self.web1(variant))
        defer { lab.close() }
        try startWeb1(lab)
        // While libvirtd is down, our table disappears (someone ran `nft flush ruleset`, say).
        _ = try lab.inLab("kill -9 $(cat \(LibvirtLab.base)/\(lab.name)/libvirtd.pid)")
        _ = try lab.inLab(variant.isIptables ? "iptables -t nat -F LIBVIRT_PORTFWD_PRE" : "nft delete table inet libvirt_portfwd")
        #expect(lab.connect(port: 8080) == nil)
        try lab.lab("restart-libvirtd")
        #expect(try lab.virsh("domstate web1").contains("running"))
        #expect(lab.reach(port: 8080) == "guest-192.168.122.10", "reconnect must re-apply the forward")
    }

    @Test(arguments: backends)
    func networkRestartKeepsForwardsWorkingThroughTheNetworkHook(variant: Variant) throws {
        let lab = try LibvirtLab(config: Self.web1(variant))
        defer { lab.close() }
        try startWeb1(lab)
        try lab.virsh("net-destroy default")
        try lab.virsh("net-start default")
        // libvirt re-created its FORWARD jumps and reject rules; ours must still be first.
        let forward = try lab.inLab("iptables -S FORWARD").split(separator: "\n").filter { $0.hasPrefix("-A") }
        #expect(forward.first?.contains("libvirt-portfwd") == true, "\(forward)")
        #expect(forward.filter { $0.contains("libvirt-portfwd") }.count == 1)
        try lab.lab("reattach")
        #expect(lab.reach(port: 8080) == "guest-192.168.122.10")
    }

    @Test func conflictingGuestFailsToStartWithOurMessage() throws {
        let lab = try LibvirtLab(config: Self.web1Guest + """

            [[guest]]
            name = "web2"
            address = "192.168.122.11"
            forwards = ["8080:8080"]
            """)
        defer { lab.close() }
        try lab.define("web1", mac: "52:54:00:00:00:10")
        try lab.define("web2", mac: "52:54:00:00:00:11")
        try lab.virsh("start web1")
        let result = lab.virshResult("start web2")
        #expect(result.status != 0)
        #expect(result.stderr.contains("cannot start guest web2: conflict: tcp port 8080 on every address: guests web1 and web2 both claim it"),
                "virsh said: \(result.stderr)")
        #expect(try lab.virsh("domstate web2").contains("shut off"))
    }

    @Test func tenGuestsStartedConcurrentlyAllGetTheirForwards() throws {
        let addresses = (10..<20).map { "192.168.122.\($0)" }
        let lab = try LibvirtLab(config: "", guestAddresses: addresses)
        defer { lab.close() }
        try lab.serveInGuest(port: 80)
        for i in 0..<10 {
            let meta = "<pfw:forwards xmlns:pfw='urn:libvirt-portfwd:1'><pfw:forward spec='\(9000 + i):80'/><pfw:address>\(addresses[i])</pfw:address></pfw:forwards>"
            try lab.define("g\(i)", mac: String(format: "52:54:00:00:01:%02x", i), metadata: meta)
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
    }
}
