import Foundation
import PortFwdSystem
import Testing

/// A guest owner stays inside their guest (issue 16), against a real libvirtd: the owner has
/// `virsh metadata` on their own guest and controls its DHCP client, and tries to keep
/// forwards after a stop, to take another guest's address, to edit another guest, and to use
/// forwards as a way out of an isolated network.
@Suite(.privileged, .serialized) struct RootContainmentTests {
    static let web1 = "[[guest]]\nname = \"web1\"\nforwards = [\"8080:80\"]\n"

    func metadata(_ lab: LibvirtLab, _ domain: String, uri: String, key: String, _ xml: String) throws {
        try lab.virsh("metadata \(Lab.quote(domain)) \(uri) --live --key \(key) --set \(Lab.quote(xml))")
    }

    /// What the owner can do to the live XML after the start, each time before a stop: the
    /// stop forgets the guest whatever the document holds, and its forward goes.
    @Test(arguments: LibvirtHost.allCases)
    func stoppingAlwaysRemovesTheForward(host: LibvirtHost) throws {
        let lab = try LibvirtLab(config: Self.web1, host: host)
        defer { lab.close() }
        try lab.serveInGuest(port: 80)
        try lab.define("web1", mac: "52:54:00:00:00:10")
        let deep = "<a>" + String(repeating: "<b>", count: 254) + String(repeating: "</b>", count: 254) + "</a>"
        let triggers: [(String, () throws -> Void)] = [
            ("invalid metadata in our namespace", {
                try self.metadata(lab, "web1", uri: "urn:libvirt-portfwd:1", key: "portfwd", "<forwards><forward spec='nope'/></forwards>")
            }),
            ("<!DOCTYPE and <!ENTITY in a comment and a CDATA section", {
                try self.metadata(lab, "web1", uri: "urn:other:1", key: "o", "<a><!-- <!DOCTYPE q [<!ENTITY z 'y'>]> --><![CDATA[<!ENTITY w "
                    + "'v'>]]></a>")
            }),
            ("nesting libvirt accepts, past libxml2's depth limit", { try self.metadata(lab, "web1", uri: "urn:other:2", key: "d", deep) }),
            ("a live XML over 4 MiB", {
                // 36 elements of 120 kB each: one argument may not exceed 128 kB.
                try lab.inLab("x=$(printf '%120000s' '' | tr ' ' x); for i in $(seq 36); do "
                    + "virsh -q -c qemu:///system metadata web1 urn:big:$i --live --key b$i --set \"<a>$x</a>\" >/dev/null || exit 1; done")
                let size = try lab.inLab("wc -c </run/libvirt/qemu/web1.xml").trimmingCharacters(in: .whitespacesAndNewlines)
                #expect((Int(size) ?? 0) > 4 << 20, "the live XML is \(size) bytes")
            }),
        ]
        for (what, trigger) in triggers {
            try lab.virsh("start web1")
            #expect(lab.reach(port: 8080) == "guest-192.168.122.10", "\(what): the forward works before")
            try trigger()
            try lab.virsh("destroy web1")
            #expect(lab.records.isEmpty, "\(what): the record goes")
            #expect(try lab.dnatElements().isEmpty, "\(what): the forward goes")
            #expect(lab.connect(port: 8080) == nil, "\(what)")
        }
        lab.record("stop after hostile live XML", result: "forwards removed")
    }

    /// The owner of the guest that started first sets its live metadata `<address>` to the
    /// younger guest's address, with the service running: the younger guest holds it and keeps
    /// its forward, the older one's is never installed, and `status` names the holder.
    @Test(arguments: [LibvirtHost.debian12, .debian13])
    func anOlderGuestCannotTakeAYoungerGuestsAddress(host: LibvirtHost) throws {
        // The victim's address is one no static DHCP host of the network names.
        let lab = try LibvirtLab(config: "", host: host, guestAddresses: ["192.168.122.61"])
        defer { lab.close() }
        try lab.serveInGuest(port: 80)
        let meta = { (port: Int, address: String) in
            "<pf:forwards xmlns:pf='urn:libvirt-portfwd:1'><pf:forward spec='\(port):80'/><pf:address>\(address)</pf:address></pf:forwards>"
        }
        // young is the guest namespace (its MAC), which talks from .61 as a booted guest does.
        try lab.define("old", mac: "52:54:00:00:00:30", metadata: meta(9001, "192.168.122.60"))
        try lab.define("young", mac: "52:54:00:00:00:10", metadata: meta(9002, "192.168.122.61"))
        try lab.virsh("start old")
        try lab.virsh("start young")
        let watch = try lab.startWatch()
        #expect(lab.reach(port: 9002) == "guest-192.168.122.61")
        try metadata(lab, "old", uri: "urn:libvirt-portfwd:1", key: "portfwd",
                     "<forwards><forward spec='9001:80'/><address>192.168.122.61</address></forwards>")
        try waitFor("status to name the dispute") {
            let s = lab.toolResult("status")
            return s.status == 2 && s.stderr.contains("guest old: its metadata address 192.168.122.61 is held by guest young (metadata), which had "
                + "it first")
        }
        #expect(!(try lab.dnatElements()).contains { $0.hasPrefix("tcp . 9001 :") && $0.contains("192.168.122.61") })
        #expect(lab.connect(port: 9001) == nil, "a client outside never reaches the victim through the old guest's port")
        #expect(!watch.log.contains("9001 : 192.168.122.61"))
        #expect(lab.reach(port: 9002) == "guest-192.168.122.61", "the holder keeps its forward")
        lab.record("a guest's metadata naming another guest's address", result: "refused, the holder keeps it")
    }

    /// A guest's DHCP client asks for the address the config gives another guest (dnsmasq,
    /// which knows nothing of the config, grants it): the thief's forward never points there.
    @Test(arguments: [LibvirtHost.debian12, .debian13])
    func aLeaseCannotTakeAnAddressTheConfigGivesAnother(host: LibvirtHost) throws {
        let config = """
            [[guest]]
            name = "victim"
            address = "192.168.122.50"
            forwards = ["8080:80"]
            [[guest]]
            name = "thief"
            forwards = ["9090:80"]
            """
        let lab = try LibvirtLab(config: config, host: host, guestMAC: "52:54:00:00:00:20")
        defer { lab.close() }
        try lab.serveInGuest(port: 80)
        try lab.define("victim", mac: "52:54:00:00:00:50")
        try lab.define("thief", mac: "52:54:00:00:00:20")
        try lab.virsh("start victim")
        try lab.virsh("start thief")
        _ = try lab.startWatch()
        let leased = try lab.lab("dhcp 192.168.122.50")
        #expect(leased.contains("192.168.122.50"), "dnsmasq grants the address: \(leased)")
        try waitFor("status to name the dispute") {
            let s = lab.toolResult("status")
            return s.status == 2 && s.stderr.contains("guest thief: its lease address 192.168.122.50 is disputed with guest victim (config)")
        }
        #expect(!(try lab.dnatElements()).contains { $0.hasPrefix("tcp . 9090 :") })
        #expect(lab.connect(port: 9090) == nil)
        // The victim's own forward is the admin's word, and stays.
        #expect((try lab.dnatElements()).contains("tcp . 8080 : 192.168.122.50 . 80"))
        lab.record("a lease naming the address the config gives another guest", result: "refused, both named")
    }

    /// Names are taken exactly, and virsh never reads one as an option: `forward add` edits
    /// the domain named and no other; a domain named `victim ` gets nothing of `victim`'s
    /// config; live-only metadata survives an add and a remove.
    @Test(arguments: [LibvirtHost.debian12, .debian13])
    func editsReachTheNamedDomainOnlyAndKeepLiveMetadata(host: LibvirtHost) throws {
        let lab = try LibvirtLab(config: "[[guest]]\nname = \"victim\"\naddress = \"192.168.122.10\"\nforwards = [\"8080:80\"]\n", host: host)
        defer { lab.close() }
        try lab.serveInGuest(port: 80)
        try lab.define("victim", mac: "52:54:00:00:00:10")
        try lab.define("--help", mac: "52:54:00:00:00:40")
        try lab.define("victim ", mac: "52:54:00:00:00:41")
        #expect(try lab.tool("forward add -- --help 9000:80").hasPrefix("added 9000:80 to --help"))
        #expect(try lab.tool("forward list -- --help").contains("--help  9000:80/tcp"))
        let victims = try lab.tool("forward list -- victim")
        #expect(!victims.contains("9000"), "\(victims)")
        // `victim ` starts without victim's forward.
        try lab.virsh("start 'victim '")
        #expect(lab.records.isEmpty)
        #expect(lab.connect(port: 8080) == nil)
        try lab.virsh("destroy 'victim '")
        // Live-only metadata on the running victim survives forward add and remove.
        try lab.virsh("start victim")
        try metadata(lab, "victim", uri: "urn:libvirt-portfwd:1", key: "portfwd", "<forwards><forward spec='7070:80'/></forwards>")
        _ = try lab.tool("apply")
        #expect(lab.reach(port: 7070) == "guest-192.168.122.10")
        _ = try lab.tool("forward add victim 9443:80")
        let live = try lab.virsh("metadata victim urn:libvirt-portfwd:1 --live")
        #expect(live.contains("7070:80") && live.contains("9443:80"), "\(live)")
        let persistent = try lab.virsh("metadata victim urn:libvirt-portfwd:1 --config")
        #expect(!persistent.contains("7070") && persistent.contains("9443:80"), "\(persistent)")
        #expect(lab.reach(port: 9443) == "guest-192.168.122.10")
        _ = try lab.tool("forward remove victim 9443:80")
        #expect(try lab.virsh("metadata victim urn:libvirt-portfwd:1 --live").contains("7070:80"))
        #expect(lab.reach(port: 7070) == "guest-192.168.122.10")
        #expect(lab.connect(port: 9443) == nil)
        lab.record("forward add/list with hostile names, live-only metadata")
    }

    /// Real sockets of the host: a guest's metadata forward never hides one (it is left out,
    /// and the host service still answers); a config forward that does is the admin's word, is
    /// installed, and every report names the socket and its process.
    @Test(arguments: [LibvirtHost.debian12, .debian13])
    func hostServicesAreNeverHiddenByMetadata(host: LibvirtHost) throws {
        let lab = try LibvirtLab(config: "[[guest]]\nname = \"web1\"\naddress = \"192.168.122.10\"\nforwards = [\"9001:80\"]\n", host: host)
        defer { lab.close() }
        try lab.serveInGuest(port: 80)
        for port in [9000, 9001] { _ = try lab.startInLab(["socat", "TCP-LISTEN:\(port),fork,reuseaddr", "SYSTEM:echo host"]) }
        try waitFor("the host's services") { lab.connect(port: 9000) == "host" && lab.connect(port: 9001) == "host" }
        try lab.define("web1", mac: "52:54:00:00:00:10", metadata: "<pf:forwards xmlns:pf='urn:libvirt-portfwd:1'><pf:forward "
            + "spec='9000:80'/></pf:forwards>")
        try lab.virsh("start web1")
        #expect(lab.reach(port: 9001) == "guest-192.168.122.10", "the config's forward is installed")
        #expect(lab.connect(port: 9000) == "host", "the host's service still answers on 9000")
        let status = lab.toolResult("status")
        #expect(status.stderr.contains("forward 9001:80/tcp hides a host service listening on tcp *:9001 (socat (pid "), "\(status.stderr)")
        let apply = lab.toolResult("apply")
        #expect(apply.stderr.contains("metadata forward 9000:80/tcp would hide a host service listening on tcp *:9000 (socat (pid "),
            "\(apply.stderr)")
        let check = lab.toolResult("check --kernel")
        #expect(check.status == 0 && check.stderr.contains("forward 9001:80/tcp hides a host service listening on tcp *:9001 (socat (pid "),
            "\(check.stderr)")
        // forward add, by root into the config's drop-in: added, and the shadowed service named.
        _ = try lab.startInLab(["socat", "TCP-LISTEN:9002,fork,reuseaddr", "SYSTEM:echo host"])
        try waitFor("the third host service") { lab.connect(port: 9002) == "host" }
        let add = lab.toolResult("forward add web1 9002:80 --in config")
        #expect(add.status == 0 && add.stderr.contains("forward 9002:80/tcp hides a host service listening on tcp *:9002 (socat (pid "),
            "\(add.stderr)")
        lab.record("forwards on ports host services listen on", result: "metadata refused, config warned")
    }

    /// A guest on an isolated libvirt network (no `<forward>`) reaches its own host, but no
    /// forward through it: a forward is no way out of the isolation.
    @Test(arguments: LibvirtHost.allCases)
    func anIsolatedNetworkGetsNoWayOut(host: LibvirtHost) throws {
        let lab = try LibvirtLab(config: "[[guest]]\nname = \"web1\"\naddress = \"192.168.122.10\"\nforwards = [\"8080:80\"]\n", host: host)
        defer { lab.close() }
        try lab.serveInGuest(port: 80)
        try lab.define("web1", mac: "52:54:00:00:00:10")
        try lab.virsh("start web1")
        #expect(lab.reach(port: 8080) == "guest-192.168.122.10")
        try lab.lab("isolated")
        // The control: the isolated guest does reach its host, on a port of the host's own.
        let server = try lab.startInLab(["socat", "TCP4-LISTEN:7777,fork,reuseaddr", "SYSTEM:echo host"])
        defer { kill(server, SIGKILL); _ = Spawn.wait(server) }
        let iso = "\(lab.name)-iso"
        func fromIsolated(_ address: String, _ port: Int) -> String? {
            let r = Shell.capture("ip netns exec \(iso) timeout 5 socat -T2 - TCP:\(address):\(port),connect-timeout=2 </dev/null")
            let text = r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            return text.isEmpty ? nil : text
        }
        try waitFor("the isolated guest to reach its host") { fromIsolated("192.168.100.1", 7777) == "host" }
        #expect(fromIsolated("192.168.100.1", 8080) == nil, "through its bridge's host address")
        #expect(fromIsolated("198.51.100.1", 8080) == nil, "through another address of the host")
        #expect(lab.reach(port: 8080) == "guest-192.168.122.10", "from outside, the forward still works")
        lab.record("a guest on an isolated network", result: "no way out through forwards")
    }
}
