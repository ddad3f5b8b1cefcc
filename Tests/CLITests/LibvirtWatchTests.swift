import Foundation
import Testing

/// The watch service next to a real libvirtd (and firewalld): forwards stay true between
/// libvirt's events, on every libvirt the tool is proven on.
@Suite(.privileged, .serialized) struct RootLibvirtWatchTests {
    static let web1 = RootLibvirtTests.web1Guest

    func startWeb1(_ lab: LibvirtLab) throws {
        try lab.serveInGuest(port: 80)
        try lab.define("web1", mac: "52:54:00:00:00:10")
        try lab.virsh("start web1")
        #expect(lab.reach(port: 8080) == "guest-192.168.122.10")
    }

    func works(_ lab: LibvirtLab, _ what: String) throws {
        try waitFor(what) { lab.connect(port: 8080) == "guest-192.168.122.10" }
    }

    /// Someone deletes our admission rule; libvirt's network restarts with no network hook to
    /// call; `nft flush ruleset` (what Debian's nftables.service does on restart) takes
    /// everything: each time the forward works again.
    @Test(arguments: LibvirtHost.allCases)
    func theServiceRepairsWhatOthersBreak(host: LibvirtHost) throws {
        let lab = try LibvirtLab(config: Self.web1, host: host)
        defer { lab.close() }
        try startWeb1(lab)
        let watch = try lab.startWatch()
        if host.libvirtNftables {
            let handle = try lab.inLab("nft -a list chain ip libvirt_network forward | awk '/libvirt-portfwd/ {print $NF}'")
                .trimmingCharacters(in: .whitespacesAndNewlines)
            try lab.inLab("nft delete rule ip libvirt_network forward handle \(handle)")
        } else {
            try lab.inLab("iptables -D FORWARD -m connmark --mark 0x10000000/0x10000000 -m comment --comment libvirt-portfwd -j ACCEPT")
        }
        try works(lab, "the admission rule to be repaired")
        try lab.inLab("rm \(LibvirtLab.base)/\(lab.name)/state/etc/hooks/network.d/libvirt-portfwd")
        try lab.virsh("net-destroy default")
        try lab.virsh("net-start default")
        try lab.lab("reattach")
        try works(lab, "forwards after a network restart without the network hook")
        try lab.inLab("nft flush ruleset")
        try works(lab, "forwards after nft flush ruleset")
        // The rules are in before the service writes its line about them.
        try waitFor("the service to log its repairs") { watch.repairs >= 2 }
        lab.record("service: repairs after flush ruleset, a deleted rule, a network restart")
    }

    /// A guest's start and stop are the hook's to apply: the service sees the table change and
    /// the status files come and go, finds the kernel holding the plan, and applies nothing of
    /// its own. (Its later repair of a flush proves it had read those events by then.)
    @Test func theHookAloneAppliesAGuestsStartAndStop() throws {
        let lab = try LibvirtLab(config: Self.web1, host: .debian12)
        defer { lab.close() }
        let watch = try lab.startWatch()
        try startWeb1(lab)
        try lab.virsh("destroy web1")
        try waitFor("the hook to remove the forward") { ((try? lab.dnatElements()) ?? ["?"]).isEmpty }
        try lab.virsh("start web1")
        try works(lab, "the forward after the second start")
        try lab.inLab("nft flush ruleset")
        try waitFor("the repair of the flush") { watch.repairs == 1 }
        let own = watch.log.split(separator: "\n").filter { $0.contains("watch: guest ") || $0.contains("installed") && !$0.contains("repaired after")
            && !$0.contains("watch start") }
        #expect(own.isEmpty, "the service applied a guest event the hook had applied: \(own)")
        lab.record("service: no second apply after a hook")
    }

    /// firewalld's reload: 1.3.3 (Debian 12) flushes every iptables-nft table, our admission
    /// rule with them, and libvirt puts back only its own rules, running no hook; 2.x
    /// (Debian 13) keeps iptables alone. Either way the forward works again.
    @Test(arguments: LibvirtHost.allCases)
    func firewalldReloadIsRepaired(host: LibvirtHost) throws {
        let lab = try LibvirtLab(config: Self.web1, host: host, firewalld: .standard)
        defer { lab.close() }
        try startWeb1(lab)
        let watch = try lab.startWatch()
        try lab.lab("firewalld-reload")
        // libvirt re-creates its rules on firewalld's Reloaded signal, a moment after the reload.
        try waitFor("libvirt's rules to come back") {
            let listing = (try? lab.inLab(host.libvirtNftables ? "nft list chain ip libvirt_network guest_input" : "iptables -S LIBVIRT_FWI")) ?? ""
            return listing.lowercased().contains("reject")
        }
        try works(lab, "forwards after firewall-cmd --reload")
        if host == .debian12 {
            try waitFor("the service to repair the flushed admission rule") { watch.log.contains("admission rule in iptables-nft FORWARD "
                + "is missing") }
        }
        // libvirt puts its IPv4 and IPv6 rules back by separate restores, and one may land while
        // the service repairs after the other: then its event brings a second repair. What is
        // asserted is that the service gets there, not that one repair did.
        var status = lab.toolResult("status")
        do {
            try waitFor("status to say the forwards pass") {
                status = lab.toolResult("status")
                return status.status == 0
            }
        } catch {
            Issue.record("\(error): \(status.stderr)\n\((try? lab.inLab("ip6tables -S FORWARD; ip6tables -S LIBVIRT_FWI")) ?? "")\n\(watch.log)")
        }
        lab.record("firewall-cmd --reload with the service", result: "forwards work")
    }

    /// firewalld >= 2.3 with StrictForwardPorts=yes admits only its own forward-ports, and
    /// offers no way in: apply, check --kernel and status say so instead of reporting success.
    @Test func strictFirewalldIsReportedNotHidden() throws {
        let lab = try LibvirtLab(config: Self.web1, host: .debian13, firewalld: .strict)
        defer { lab.close() }
        try lab.serveInGuest(port: 80)
        let line = "firewalld runs with StrictForwardPorts=yes, which rejects every forwarded connection that is not one of firewalld's own "
            + "forward-ports"
        let apply = lab.toolResult("apply --all")
        #expect(apply.status == 1 && apply.stderr.contains(line), "\(apply.stderr)")
        let check = lab.toolResult("check --kernel")
        #expect(check.status == 1 && check.stderr.contains(line), "\(check.stderr)")
        let status = lab.toolResult("status")
        #expect(status.status == 2 && status.stderr.contains(line), "\(status.stderr)")
        #expect(lab.connect(port: 8080) == nil, "the forward indeed does not work")
        lab.record("apply, check --kernel, status", result: "refused, with the setting named")
    }

    /// A guest on dynamic DHCP starts pending, whether or not the service runs yet (at boot,
    /// libvirt autostarts guests before it); once the service runs, its forward appears when its
    /// DHCP client gets a lease, and follows it to a new address.
    @Test(arguments: LibvirtHost.allCases)
    func aDHCPGuestIsPendingThenFollowsItsLease(host: LibvirtHost) throws {
        let lab = try LibvirtLab(config: "[[guest]]\nname = \"web1\"\nforwards = [\"8080:80\"]\n", host: host, guestMAC: "52:54:00:00:00:20")
        defer { lab.close() }
        try lab.serveInGuest(port: 80)
        try lab.define("web1", mac: "52:54:00:00:00:20")
        try lab.virsh("start web1")
        let pending = lab.toolResult("status")
        #expect(pending.status == 2 && pending.stderr.contains("guest web1 is pending"), "\(pending.stderr)")
        #expect(pending.stdout.contains("web1   8080:80/tcp  -"), "\(pending.stdout)")
        let watch = try lab.startWatch()
        let first = try lab.lab("dhcp")
        let leased = try #require(first.split(separator: " ").first { $0.hasPrefix("192.168.122.") }.map(String.init), "\(first)")
        try waitFor("the forward to the leased address") { lab.connect(port: 8080) == "guest-\(leased)" }
        #expect(lab.toolResult("status").status == 0)
        _ = try lab.lab("dhcp release")
        let second = try lab.lab("dhcp 192.168.122.99")
        #expect(second.contains("192.168.122.99"), "\(second)")
        try waitFor("the forward to follow the new lease") { lab.connect(port: 8080) == "guest-192.168.122.99" }
        #expect(watch.follows >= 2, "\(watch.log)")
        lab.record("a DHCP guest pending, then following its lease")
    }

    /// `apply` adopts a guest that was running before its config existed, and drops the record
    /// of one that stopped while no hook ran.
    @Test(arguments: LibvirtHost.allCases)
    func applyAdoptsAndDropsByWhatLibvirtRuns(host: LibvirtHost) throws {
        let lab = try LibvirtLab(config: "", host: host)
        defer { lab.close() }
        try lab.serveInGuest(port: 80)
        try lab.define("web1", mac: "52:54:00:00:00:10")
        try lab.virsh("start web1")
        #expect(lab.records.isEmpty)
        try Self.web1.write(toFile: lab.configPath, atomically: true, encoding: .utf8)
        #expect(try lab.tool("apply").contains("adopted web1"))
        #expect(lab.reach(port: 8080) == "guest-192.168.122.10")
        // Stopped while no hook ran (the shim was gone), an hour ago.
        try lab.inLab("rm \(LibvirtLab.base)/\(lab.name)/state/etc/hooks/qemu.d/libvirt-portfwd")
        try lab.virsh("destroy web1")
        let record = "\(lab.stateDir)/\(lab.records[0])"
        let aged = try String(contentsOfFile: record, encoding: .utf8)
            .replacingOccurrences(of: #""since" : [0-9]+"#, with: "\"since\" : \(Int(Date().timeIntervalSince1970) - 3600)",
                options: .regularExpression)
        try aged.write(toFile: record, atomically: true, encoding: .utf8)
        chmod(record, 0o600)
        let status = lab.toolResult("status")
        #expect(status.status == 2 && status.stderr.contains("the record of guest web1 is stale"), "\(status.stderr)")
        #expect(try lab.tool("apply").contains("dropped the records of web1"))
        #expect(lab.records.isEmpty)
        #expect(lab.connect(port: 8080) == nil)
        lab.record("apply adopting and dropping guests")
    }
}
