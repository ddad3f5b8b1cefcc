import Foundation
import Testing
import PortFwdSystem

/// The admin keeps the last word under every neighbour: the examples of libvirt-portfwd(8)'s
/// FIREWALL NEIGHBOURS section, run with real packets. Each blocks client1 (198.51.100.2) from
/// a forward while client2 (203.0.113.2) still gets through, and `status` stays healthy.
@Suite(.privileged, .serialized) struct RootNeighbourTests {
    /// The man page's examples, word for word (ManPageTests holds them to the page).
    static let examples: [String: String] = [
        "nftables": """
            nft add table inet admin
            nft add chain inet admin forward '{ type filter hook forward priority -10; policy accept; }'
            nft add rule inet admin forward ip saddr 198.51.100.2 ct status dnat drop
            """,
        "iptables": "iptables -I LIBVIRT_PORTFWD_USER -s 198.51.100.2 -j DROP",
        "ufw": "ufw route deny from 198.51.100.2",
        "docker": "iptables -I DOCKER-USER -s 198.51.100.2 -j DROP",
        "firewalld": "firewall-cmd --direct --add-rule ipv4 filter FORWARD 0 -s 198.51.100.2 -j DROP",
    ]

    static let config = """
        [[guest]]
        name = "web1"
        address = "192.168.122.10"
        forwards = ["8080:80"]

        """

    func bothPass(_ lab: Lab) {
        #expect(lab.reach(lab.client1, to: Lab.hostOutside4, port: 8080) == "g1-80", "client1 passes")
        #expect(lab.reach(lab.client2, to: Lab.hostClient2Side, port: 8080) == "g1-80", "client2 passes")
    }

    func onlyClient2Passes(_ lab: Lab, _ what: String) {
        #expect(lab.connect(lab.client1, to: Lab.hostOutside4, port: 8080) == nil, "\(what) blocks client1")
        #expect(lab.reach(lab.client2, to: Lab.hostClient2Side, port: 8080) == "g1-80", "\(what) leaves client2 alone")
    }

    func healthy(_ lab: Lab, _ config: String) {
        let status = lab.toolResult("status", config: config)
        #expect(status.status == 0, "\(status.stderr)")
    }

    @Test func plainNftables() throws {
        let lab = try Lab()
        defer { lab.close() }
        try lab.serve(lab.guest1, port: 80, reply: "g1-80")
        let config = try lab.config(Self.config)
        try lab.tool("apply --all", config: config)
        bothPass(lab)
        try lab.run(lab.host, Self.examples["nftables"]!)
        onlyClient2Passes(lab, "a drop in the admin's own table")
        healthy(lab, config)
    }

    /// libvirt 9's chains on iptables: the admin's chain LIBVIRT_PORTFWD_USER (and any rule put
    /// above ours, AdmissionTests and RootPacketPathTests).
    @Test func iptablesUnderLibvirt() throws {
        let lab = try Lab()
        defer { lab.close() }
        try lab.serve(lab.guest1, port: 80, reply: "g1-80")
        try lab.run(lab.host, Obstacle.libvirtIptablesNft.script)
        let config = try lab.config(Self.config)
        try lab.tool("apply --all", config: config)
        bothPass(lab)
        try lab.run(lab.host, Self.examples["iptables"]!.replacingOccurrences(of: "iptables ", with: "iptables-nft "))
        onlyClient2Passes(lab, "LIBVIRT_PORTFWD_USER")
        healthy(lab, config)
    }

    /// Docker's rules as dockerd 26 and later write them (FORWARD policy DROP, DOCKER-USER
    /// first): ours goes last, so DOCKER-USER, the place Docker documents, has its say.
    @Test func dockerUser() throws {
        let lab = try Lab()
        defer { lab.close() }
        try lab.serve(lab.guest1, port: 80, reply: "g1-80")
        try lab.run(lab.host, """
            set -e
            ip link add docker0 type bridge
            iptables-nft -P FORWARD DROP
            for c in DOCKER DOCKER-FORWARD DOCKER-ISOLATION-STAGE-1 DOCKER-ISOLATION-STAGE-2 DOCKER-USER; do iptables-nft -N $c; done
            iptables-nft -A FORWARD -j DOCKER-USER
            iptables-nft -A FORWARD -j DOCKER-FORWARD
            iptables-nft -A DOCKER ! -i docker0 -o docker0 -j DROP
            iptables-nft -A DOCKER-FORWARD -j DOCKER-ISOLATION-STAGE-1
            iptables-nft -A DOCKER-FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
            iptables-nft -A DOCKER-FORWARD -o docker0 -j DOCKER
            iptables-nft -A DOCKER-FORWARD -i docker0 -j ACCEPT
            iptables-nft -A DOCKER-ISOLATION-STAGE-1 -i docker0 ! -o docker0 -j DOCKER-ISOLATION-STAGE-2
            iptables-nft -A DOCKER-ISOLATION-STAGE-2 -o docker0 -j DROP
            iptables-nft -A DOCKER-USER -j RETURN
            """)
        let config = try lab.config(Self.config)
        #expect(lab.connect(lab.client1, to: Lab.hostOutside4, port: 8080) == nil, "Docker's DROP policy")
        try lab.tool("apply --all", config: config)
        bothPass(lab)
        let forward = lab.capture(lab.host, "iptables-nft -S FORWARD").stdout.split(separator: "\n").filter { $0.hasPrefix("-A") }
        #expect(forward.first == "-A FORWARD -j DOCKER-USER" && forward.last?.hasSuffix("--comment libvirt-portfwd -j ACCEPT") == true, "\(forward)")
        try lab.run(lab.host, Self.examples["docker"]!.replacingOccurrences(of: "iptables ", with: "iptables-nft "))
        onlyClient2Passes(lab, "DOCKER-USER")
        healthy(lab, config)
    }

    /// ufw from Debian's package, enabled (its forward policy DROP): ours goes last, so `ufw
    /// route` rules have their say. They see the packet after our DNAT: the guest's address and
    /// port, not the host's; and ufw's plain rules see only traffic to the host itself.
    @Test func ufwRouteRules() throws {
        guard FileManager.default.fileExists(atPath: "/usr/sbin/ufw") else {
            Issue.record("ufw is not installed (make test-deps)")
            return
        }
        let lab = try Lab()
        defer { lab.close() }
        // ufw keeps its state in /etc/ufw and /etc/default/ufw: private copies, bound over the
        // real ones for each call, so the host's ufw is never touched.
        try Shell.run("cp -a /etc/ufw \(lab.dir)/ufw && cp /etc/default/ufw \(lab.dir)/ufw-default")
        func ufw(_ arguments: String) throws {
            try lab.run(lab.host, "unshare -m sh -c 'mount --bind \(lab.dir)/ufw /etc/ufw && mount --bind \(lab.dir)/ufw-default /etc/default/ufw && "
                + "ufw \(arguments)'")
        }
        try lab.serve(lab.guest1, port: 80, reply: "g1-80")
        try ufw("--force enable")
        #expect(lab.capture(lab.host, "iptables-nft -S FORWARD").stdout.hasPrefix("-P FORWARD DROP"))
        let config = try lab.config(Self.config)
        try lab.tool("apply --all", config: config)
        bothPass(lab)
        // What route rules cannot see: the host's port (8080); what plain rules cannot: forwards.
        try ufw("route deny proto tcp from any to any port 8080")
        try ufw("deny from 198.51.100.2")
        bothPass(lab)
        try ufw(String(Self.examples["ufw"]!.dropFirst(4)))
        onlyClient2Passes(lab, "ufw route deny")
        // What route rules see: the guest's address and port, after our DNAT.
        try ufw("route deny proto tcp from 203.0.113.2 to 192.168.122.10 port 80")
        #expect(lab.connect(lab.client2, to: Lab.hostClient2Side, port: 8080) == nil, "a route rule on the guest's port")
        // Blocked clients, and no chain to blame that is not one: a warning at most, no problem.
        healthy(lab, config)
        #expect(try String(contentsOfFile: "/etc/ufw/ufw.conf", encoding: .utf8).contains("ENABLED=no"), "the host's ufw untouched")
    }

    /// firewalld (Debian's, on a private bus in the lab): it accepts every DNATed connection
    /// before any zone or policy, so a rich rule never sees a forward (ours or its own
    /// forward-ports); a direct rule in FORWARD does, and an nftables table of the admin's.
    @Test func firewalldDirectRule() throws {
        let lab = try Lab()
        defer { lab.close() }
        let firewalld = try LabFirewalld(lab)
        defer { firewalld.stop() }
        try lab.serve(lab.guest1, port: 80, reply: "g1-80")
        let config = try lab.config(Self.config)
        try lab.tool("apply --all", config: config)
        bothPass(lab)
        try firewalld.cmd("--add-rich-rule='rule family=\"ipv4\" source address=\"198.51.100.2\" drop'")
        #expect(lab.reach(lab.client1, to: Lab.hostOutside4, port: 8080) == "g1-80", "a rich rule sees no DNATed connection")
        try firewalld.cmd(String(Self.examples["firewalld"]!.dropFirst("firewall-cmd ".count)))
        onlyClient2Passes(lab, "a firewalld direct rule")
        healthy(lab, config)
    }
}

/// firewalld in a lab's host namespace: a private mount namespace (a tmpfs /run, a copy of
/// /etc/firewalld) with its own system bus; ended by PID.
final class LabFirewalld {
    let pid: pid_t
    let dir: String
    let dbusPid: String

    init(_ lab: Lab) throws {
        dir = "\(lab.dir)/firewalld"
        try Shell.run("mkdir -p \(dir) && cp -a /etc/firewalld \(dir)/etc")
        try """
            <!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN" \
            "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
            <busconfig><type>system</type><listen>unix:path=/run/dbus/system_bus_socket</listen><auth>EXTERNAL</auth>
            <policy context="default"><allow user="root"/><allow own="*"/><allow send_destination="*"/>\
            <allow receive_sender="*"/></policy></busconfig>
            """.write(toFile: "\(dir)/dbus.conf", atomically: true, encoding: .utf8)
        dbusPid = "\(dir)/dbus.pid"
        // exec all the way down: the PID is firewalld's.
        pid = try Spawn.start(["/usr/sbin/ip", "netns", "exec", lab.host, "unshare", "-m", "--propagation", "private", "sh", "-c",
                               "mount -t tmpfs tmpfs /run && mkdir -p /run/dbus && mount --bind \(dir)/etc /etc/firewalld && "
                               + "dbus-daemon --config-file=\(dir)/dbus.conf --fork --print-pid=3 3>\(dbusPid) && "
                               + "exec firewalld --nofork --nopid --log-target file --log-file \(dir)/firewalld.log"],
                              stdout: "\(dir)/out", stderr: "\(dir)/err")
        try waitFor("firewalld to run", seconds: 30) { (try? self.cmd("--state")) == "running" }
    }

    @discardableResult
    func cmd(_ arguments: String) throws -> String {
        try Shell.run("nsenter -t \(pid) -m -n sh -c \(Lab.quote("firewall-cmd \(arguments)"))").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func stop() {
        kill(pid, SIGTERM)
        _ = Spawn.wait(pid)
        if let text = try? String(contentsOfFile: dbusPid, encoding: .utf8), let dbus = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
            kill(dbus, SIGTERM)
        }
    }
}
