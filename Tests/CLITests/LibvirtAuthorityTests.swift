import Foundation
import Testing

/// Only authority moves a forward, against a real libvirtd, its real dnsmasq and lease helper,
/// and frames a guest owner forges on the bridge (Tests/libvirt/frames.py): a guest's metadata,
/// its frames, a DHCPREQUEST carrying another guest's MAC, or a local user's socket never take,
/// switch off or block another guest's forwards; an isolated guest never opens itself.
@Suite(.privileged, .serialized) struct RootAuthorityTests {
    func metadata(_ lab: LibvirtLab, _ domain: String, _ xml: String) throws {
        try lab.virsh("metadata \(Lab.quote(domain)) urn:libvirt-portfwd:1 --live --key portfwd --set \(Lab.quote(xml))")
    }

    /// Waits until `status` says `line`; on time out, the failure shows what it said last.
    func waitForStatus(_ lab: LibvirtLab, _ what: String, saying line: String) {
        var last = ""
        do {
            try waitFor(what) {
                last = lab.toolResult("status").stderr
                return last.contains(line)
            }
        } catch {
            Issue.record("\(error): status said:\n\(last)")
        }
    }

    func frames(_ lab: LibvirtLab, _ arguments: String) throws {
        try Shell.run("ip netns exec \(lab.guestNS) /usr/bin/python3 \(Paths.root)/Tests/libvirt/frames.py eth0 \(arguments)")
    }

    /// The README's default: a config entry with no address, whose guest takes a DHCP lease.
    /// Another guest's owner names that address in its metadata, forges frames naming it at
    /// its own MAC, and sends a DHCPREQUEST with the victim's MAC and its own client identity
    /// (dnsmasq records a second, newer lease "of" the victim's MAC): the victim's forward stays
    /// where its own lease is, and the attacker's never reaches it.
    @Test(arguments: [LibvirtHost.debian12])
    func noClaimFrameOrForgedLeaseMovesAnotherGuestsForward(host: LibvirtHost) throws {
        // The victim is the guest namespace, at a MAC no static DHCP host names: a dynamic lease.
        let lab = try LibvirtLab(config: "[[guest]]\nname = \"victim\"\nforwards = [\"8080:80\"]\n", host: host, guestMAC: "52:54:00:00:00:20")
        defer { lab.close() }
        try lab.define("victim", mac: "52:54:00:00:00:20")
        try lab.define("evil", mac: "52:54:00:00:00:30", metadata: "<pf:forwards xmlns:pf='urn:libvirt-portfwd:1'><pf:forward "
            + "spec='9001:80'/></pf:forwards>")
        try lab.virsh("start victim")
        let watch = try lab.startWatch()
        let leased = try lab.lab("dhcp")
        let address = try #require(leased.split(separator: " ").dropFirst().first.map(String.init), "\(leased)")
        try lab.serveInGuest(port: 80)
        try waitFor("the victim's forward at its lease") { lab.connect(port: 8080) == "guest-\(address)" }
        // 1. The attacker's metadata names the victim's leased address.
        try lab.virsh("start evil")
        try metadata(lab, "evil", "<forwards><forward spec='9001:80'/><address>\(address)</address></forwards>")
        waitForStatus(lab, "status to name the attacker's refused claim",
                      saying: "guest evil: its metadata address \(address) is held by guest victim (lease), which had it first")
        #expect(lab.reach(port: 8080) == "guest-\(address)")
        #expect(lab.connect(port: 9001) == nil)
        // 2. Its frames name the address at its own MAC, three times over; a full apply follows.
        for _ in 0..<3 { try lab.announce(address, mac: "52:54:00:00:00:30") }
        #expect(try lab.inLab("ip neigh show \(address)").contains("52:54:00:00:00:30"), "the host's ARP table took the forged frames")
        _ = try lab.tool("apply")
        #expect(lab.reach(port: 8080) == "guest-\(address)", "the holder keeps its address whatever the wire says")
        #expect(lab.connect(port: 9001) == nil)
        // 3. A DHCPREQUEST with the victim's MAC and the attacker's client identity.
        let other = "192.168.122.77"
        try frames(lab, "dhcp-request 52:54:00:00:00:20 01:52:54:00:00:00:30 \(other) 192.168.122.1")
        let leases = "\(LibvirtLab.base)/\(lab.name)/state/lib/dnsmasq/virbr0.status"
        try waitFor("dnsmasq to record the forged lease") {
            ((try? String(contentsOfFile: leases, encoding: .utf8)) ?? "").contains(other)
        }
        _ = try lab.tool("apply")
        #expect(lab.reach(port: 8080) == "guest-\(address)", "the victim's forward stays at its own lease")
        #expect(!(try lab.dnatElements()).contains { $0.contains(other) })
        #expect(!watch.log.contains("lease \(other)"))
        // 4. A DHCPREQUEST with the victim's MAC and the victim's own client identity (it is in
        // every request the victim broadcasts): dnsmasq moves the victim's own lease. The
        // victim is not seen at the new address, so its forward stays where the victim is.
        let text = (try? String(contentsOfFile: leases, encoding: .utf8)) ?? ""
        let entries = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [[String: Any]] ?? []
        let entry = entries.first { ($0["ip-address"] as? String) == address }
        let own = try #require(entry?["client-id"] as? String, "the victim's lease and its client identity: \(text)")
        let moved = "192.168.122.78"
        try frames(lab, "dhcp-request 52:54:00:00:00:20 \(own) \(moved) 192.168.122.1")
        try waitFor("dnsmasq to move the victim's own lease") {
            ((try? String(contentsOfFile: leases, encoding: .utf8)) ?? "").contains(moved)
        }
        _ = try lab.tool("apply")
        #expect(lab.reach(port: 8080) == "guest-\(address)", "the victim's forward stays where the victim is")
        #expect(!(try lab.dnatElements()).contains { $0.contains(moved) })
        #expect(!watch.log.contains("lease \(moved)"), "\(watch.log)")
        // 5. The same without the broadcast flag: dnsmasq answers by unicast, and so writes the
        // new address into the host's ARP table at the victim's MAC. The victim does not answer
        // for it there, so its forward stays where the victim is.
        let unicast = "192.168.122.79"
        try frames(lab, "dhcp-request 52:54:00:00:00:20 \(own) \(unicast) 192.168.122.1 unicast")
        try waitFor("dnsmasq to move the victim's own lease by unicast") {
            ((try? String(contentsOfFile: leases, encoding: .utf8)) ?? "").contains(unicast)
        }
        try waitFor("dnsmasq's ARP entry at the victim's MAC") {
            ((try? lab.inLab("ip neigh show \(unicast)")) ?? "").contains("52:54:00:00:00:20")
        }
        _ = try lab.tool("apply")
        #expect(lab.reach(port: 8080) == "guest-\(address)", "the victim's forward stays where the victim is")
        #expect(!(try lab.dnatElements()).contains { $0.contains(unicast) })
        #expect(!watch.log.contains("lease \(unicast)"), "\(watch.log)")
        // The victim really moves: it takes the address and answers for it, and is followed.
        try Shell.run("ip -n \(lab.guestNS) addr add \(unicast)/24 dev eth0")
        try lab.announce(unicast, mac: "52:54:00:00:00:20")
        try waitFor("the victim followed once it answers at its new address") {
            (try? lab.dnatElements())?.contains { $0.contains(unicast) } == true
        }
        lab.record("another guest's metadata, frames and forged DHCP against a lease", result: "the holder keeps its forward")
    }

    /// A guest's metadata names an address the host has not seen in use (another guest's, say,
    /// silent so far, or an IPv6 address no EUI-64 guess gives away): it counts only once the
    /// host sees it at that guest's own MAC.
    @Test(arguments: [LibvirtHost.debian12])
    func anUnseenAddressIsNoGuestsToName(host: LibvirtHost) throws {
        let lab = try LibvirtLab(config: "", host: host)
        defer { lab.close() }
        // The victim's second, stable-privacy-like address, which it has not used yet.
        try Shell.run("ip -n \(lab.guestNS) addr add fd00:122::8a3f:19c4/64 dev eth0 nodad")
        try lab.serveInGuest(port: 22)
        try lab.define("evil", mac: "52:54:00:00:00:30",
                       metadata: "<pf:forwards xmlns:pf='urn:libvirt-portfwd:1'><pf:forward "
                           + "spec='8022:22'/><pf:address6>fd00:122::8a3f:19c4</pf:address6></pf:forwards>")
        try lab.virsh("start evil")
        _ = try lab.startWatch()
        let status = lab.toolResult("status")
        #expect(status.status == 2 && status.stderr.contains("guest evil: its metadata address fd00:122::8a3f:19c4 is not yet seen in use at its MAC "
            + "(52:54:00:00:00:30)"),
                "\(status.stderr)")
        // The victim now uses it: the host sees it at the victim's MAC, and the claim is refused.
        try lab.announce("fd00:122::8a3f:19c4", mac: "52:54:00:00:00:10")
        _ = try lab.tool("apply")
        #expect(lab.toolResult("status").stderr.contains("guest evil: its metadata address fd00:122::8a3f:19c4 is disputed with 52:54:00:00:00:10"))
        #expect(lab.connect(to: "2001:db8::1", port: 8022) == nil, "a client outside never reaches the victim's port 22")
        lab.record("metadata naming an address the host has not met", result: "waits; refused once seen at another MAC")
    }

    /// A guest owner keeps another guest's metadata port in its own live metadata, waits for the
    /// other guest to stop, and holds the port: the other guest's next start goes through all
    /// the same, its forward left out and named; once the holder stops, it comes back.
    @Test(arguments: [LibvirtHost.debian12, .debian13])
    func noGuestOwnerKeepsAnotherGuestFromStarting(host: LibvirtHost) throws {
        let lab = try LibvirtLab(config: "", host: host)
        defer { lab.close() }
        try lab.serveInGuest(port: 80)
        let meta = { (address: String) in
            "<pf:forwards xmlns:pf='urn:libvirt-portfwd:1'><pf:forward spec='9100:80'/><pf:address>\(address)</pf:address></pf:forwards>"
        }
        try lab.define("victim", mac: "52:54:00:00:00:10", metadata: meta("192.168.122.10"))
        try lab.define("evil", mac: "52:54:00:00:00:30", metadata: meta("192.168.122.60"))
        try lab.standIn("192.168.122.60", mac: "52:54:00:00:00:30")
        try lab.virsh("start victim")
        try lab.virsh("start evil")
        _ = try lab.startWatch()
        #expect(lab.reach(port: 9100) == "guest-192.168.122.10")
        try lab.virsh("destroy victim")
        try waitFor("the port to go to the guest that kept it") { (try? lab.dnatElements()) == ["tcp . 9100 : 192.168.122.60 . 80"] }
        let start = lab.virshResult("start victim")
        #expect(start.status == 0, "the victim starts: \(start.stderr)")
        try waitFor("status to name the victim's forward left out") {
            lab.toolResult("status").stderr.contains("guest evil holds the port, so 9100:80/tcp of guest victim is left out")
                || lab.toolResult("status").stderr.contains("guest evil's forward was there first, so 9100:80/tcp of guest victim is left out")
        }
        try lab.virsh("destroy evil")
        try waitFor("the victim's forward back once the holder stopped") { lab.connect(port: 9100) == "guest-192.168.122.10" }
        lab.record("a guest owner holding another guest's port", result: "the other guest starts; its forward returns")
    }

    /// A local user (uid 65534) listens on the port of an installed forward: the forward stays
    /// (a user's socket never takes a port from a guest), clients still reach the guest, and
    /// `status` names the socket as a problem.
    @Test(arguments: [LibvirtHost.debian12])
    func aLocalUsersSocketNeverTakesAForward(host: LibvirtHost) throws {
        let lab = try LibvirtLab(config: "", host: host)
        defer { lab.close() }
        try lab.serveInGuest(port: 22)
        try lab.define("web1", mac: "52:54:00:00:00:10",
                       metadata: "<pf:forwards xmlns:pf='urn:libvirt-portfwd:1'><pf:forward "
                           + "spec='8022:22'/><pf:address>192.168.122.10</pf:address></pf:forwards>")
        try lab.virsh("start web1")
        #expect(lab.reach(port: 8022) == "guest-192.168.122.10")
        _ = try lab.startInLab(["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", "socat", "TCP-LISTEN:8022,fork,reuseaddr",
            "SYSTEM:echo user"])
        try waitFor("the user's socket") { lab.shell("ss -Hltn 'sport = :8022'").stdout.contains("8022") }
        _ = try lab.tool("apply")
        #expect(lab.reach(port: 8022) == "guest-192.168.122.10", "the forward stays; outside clients never reach the user's socket")
        let status = lab.toolResult("status")
        #expect(status.status == 2 && status.stderr.contains("takes the connections of a local user's socket listening on tcp *:8022 of uid 65534"),
                "\(status.stderr)")
        lab.record("a local user's socket on a forwarded port", result: "the forward stays; status names the socket")
    }

    /// A guest on an isolated network (no `<forward>`) asks for a forward in its own metadata:
    /// none is installed, and `status` says why.
    @Test(arguments: [LibvirtHost.debian12, .debian13])
    func anIsolatedGuestCannotOpenItself(host: LibvirtHost) throws {
        let lab = try LibvirtLab(config: "", host: host)
        defer { lab.close() }
        try lab.lab("isolated")
        try lab.define("iso", mac: "52:54:00:00:00:90",
                       metadata: "<pf:forwards xmlns:pf='urn:libvirt-portfwd:1'><pf:forward "
                           + "spec='9300:80'/><pf:address>192.168.100.10</pf:address></pf:forwards>",
                       network: "isolated")
        try lab.virsh("start iso")
        let status = lab.toolResult("status")
        #expect(status.stderr.contains("guest iso: forward 9300:80/tcp is left out: 192.168.100.10 is on an isolated network (no <forward>), and no "
            + "metadata forward opens an isolated network"),
                "\(status.stderr)")
        #expect(!(try lab.dnatElements()).contains { $0.contains("192.168.100.10") })
        #expect(lab.connect(port: 9300) == nil)
        lab.record("an isolated guest's own metadata forward", result: "never installed")
    }
}
