import Foundation
import Testing
import PortFwdSystem

/// Healthy means a packet gets through: with real packets, in namespaces, a neighbour that drops
/// our forwards is named by `status` (exit 2), by Prometheus (unhealthy), by `check --kernel` and
/// by `trace`; one that cannot touch them changes nothing; and an admin's own block stays first
/// and effective through every repair.
@Suite(.privileged, .serialized) struct RootPacketPathTests {
    static let hardened = """
        table inet filter {
            chain forward {
                type filter hook forward priority filter; policy drop;
                ct state established,related accept
                iifname "virbr0" accept
            }
        }
        """

    func config(_ variant: Variant, admission: String = "auto", extra: String = "") -> String {
        """
        [settings]
        \(variant.settingsLine)
        admission = "\(admission)"

        [[guest]]
        name = "web1"
        address = "192.168.122.10"
        forwards = ["8080:80", "8081:80"\(extra)]

        """
    }

    /// A `trace` started in the background, read as it runs.
    final class Tracing {
        let pid: pid_t
        let out: String

        init(_ lab: Lab, _ arguments: String, config: String) throws {
            out = "\(lab.dir)/trace-\(UInt32.random(in: 0...UInt32.max)).out"
            // In steps: Debian's Swift 6.0.3 gives up on the whole sum as one expression.
            var argv: [String] = ["/usr/sbin/ip", "netns", "exec", lab.host, Paths.binary]
            argv += arguments.split(separator: " ").map(String.init)
            argv += ["--config", config, "--state-dir", "\(lab.dir)/state"]
            argv += lab.toolArguments.split(separator: " ").map(String.init)
            pid = try Spawn.start(argv, stdout: out, stderr: out + ".err")
            try waitFor("the trace to start") { self.text.contains("connect to it now") || self.finished != nil }
        }

        var text: String { (try? String(contentsOfFile: out, encoding: .utf8)) ?? "" }
        private var status: Int32?
        /// Its exit status once it ended (reaped once, kept).
        var finished: Int32? {
            var raw: Int32 = 0
            if status == nil, waitpid(pid, &raw, WNOHANG) == pid { status = (raw >> 8) & 0xff }
            return status
        }

        func end() throws -> Int32 {
            try waitFor("the trace to end", seconds: 40) { self.finished != nil }
            return finished!
        }
    }

    func traceTable(_ lab: Lab) -> Bool { lab.capture(lab.host, "nft list tables").stdout.contains("libvirt_portfwd_trace") }

    @Test(arguments: [Variant.nftables, .iptablesNft])
    func aHardenedNftablesConfIsNamedByStatusPrometheusCheckAndTrace(variant: Variant) throws {
        let lab = try Lab()
        defer { lab.close() }
        lab.toolArguments = variant.arguments
        try lab.serve(lab.guest1, port: 80, reply: "g1-80")
        let config = try lab.config(config(variant))
        try lab.tool("apply --all", config: config)
        #expect(lab.reach(lab.client1, to: Lab.hostOutside4, port: 8080) == "g1-80")
        #expect(lab.toolResult("status", config: config).status == 0)

        try lab.run(lab.host, "nft -f - <<'EOF'\n\(Self.hardened)\nEOF")
        #expect(lab.connect(lab.client1, to: Lab.hostOutside4, port: 8080) == nil, "the hardened chain drops it")
        var status = lab.toolResult("status", config: config)
        #expect(status.status == 2)
        #expect(status.stderr.contains("table inet filter chain forward: policy drop: stops the new connections of guest web1 8080:80/tcp, guest "
            + "web1 8081:80/tcp: turned away"),
                "\(status.stderr)")
        let json = try JSONSerialization.jsonObject(with: Data(lab.toolResult("status --json", config: config).stdout.utf8)) as? [String: Any]
        let row = (json?["forwards"] as? [[String: Any]])?.first { $0["spec"] as? String == "8080:80/tcp" }
        #expect((row?["packets"] as? Int ?? 0) > (row?["delivered_packets"] as? Int ?? -1), "DNATed, and fewer delivered: \(String(describing: row))")
        #expect(row?["turned_away_by"] as? [String] == ["table inet filter chain forward: policy drop"])
        #expect((json?["suspects"] as? [[String: Any]])?.first?["sure"] as? Bool == true)
        let prometheus = lab.toolResult("status --prometheus", config: config).stdout
        #expect(prometheus.contains("libvirt_portfwd_healthy 0\n"))
        #expect(prometheus.contains("libvirt_portfwd_forwards_refused{guest=\"web1\",uuid=\"\",reason=\"turned-away\"} 2\n"), "\(prometheus)")
        let check = lab.toolResult("check --kernel", config: config)
        #expect(check.status != 0 && check.stderr.contains("table inet filter chain forward: policy drop"), "\(check.stderr)")

        let trace = try Tracing(lab, "trace web1 8080 --timeout 20", config: config)
        #expect(lab.connect(lab.client1, to: Lab.hostOutside4, port: 8080) == nil)
        #expect(try trace.end() == 2)
        #expect(trace.text.contains("forward     table inet filter chain forward: policy drop"), "\(trace.text)")
        #expect(trace.text.contains("dropped by table inet filter chain forward: policy drop"), "\(trace.text)")
        #expect(!traceTable(lab), "the trace table is gone")

        // A drop that cannot touch our traffic changes nothing: no suspect, no problem.
        try lab.run(lab.host, """
            nft delete table inet filter
            nft -f - <<'EOF'
            table inet filter {
                chain forward {
                    type filter hook forward priority filter; policy accept;
                    ip daddr 10.0.0.0/8 oifname "virbr0" drop
                    udp dport 80 drop
                    ct state invalid drop
                    iifname "virbr0" oifname "virbr0" reject
                }
            }
            EOF
            """)
        #expect(lab.reach(lab.client1, to: Lab.hostOutside4, port: 8080) == "g1-80")
        status = lab.toolResult("status", config: config)
        #expect(status.status == 0, "\(status.stderr)")
        #expect(lab.toolResult("status --prometheus", config: config).stdout.contains("libvirt_portfwd_healthy 1\n"))
    }

    /// libvirt 9's chains, the service running: an admin's `iptables -I FORWARD 1 -s CLIENT -j
    /// DROP` stays first and blocks that client through repairs (our table flushed, libvirt
    /// refilling its chains, our rule deleted), while other clients pass; and the admin's chain
    /// LIBVIRT_PORTFWD_USER, checked before our accept, blocks too.
    @Test func anAdminsDropStaysFirstAndEffectiveThroughRepairs() throws {
        let lab = try Lab()
        defer { lab.close() }
        try lab.serve(lab.guest1, port: 80, reply: "g1-80")
        try lab.run(lab.host, Obstacle.libvirtIptablesNft.script)
        let config = try lab.config(config(.nftables))
        try lab.tool("apply --all", config: config)
        let watch = try WatchProcess(namespace: lab.host, arguments: "--config \(config) --state-dir \(lab.dir)/state", dir: lab.dir)
        defer { watch.stop() }
        #expect(lab.reach(lab.client1, to: Lab.hostOutside4, port: 8080) == "g1-80")
        try lab.run(lab.host, "iptables-nft -I FORWARD 1 -s 198.51.100.2 -j DROP")
        func forward() -> [String] { lab.capture(lab.host, "iptables-nft -S FORWARD").stdout.split(separator: "\n").filter { $0.hasPrefix("-A") }
            .map(String.init) }
        func holds() {
            #expect(forward().first == "-A FORWARD -s 198.51.100.2/32 -j DROP", "\(forward())")
            #expect(lab.connect(lab.client1, to: Lab.hostOutside4, port: 8080) == nil, "the admin's block holds")
            #expect(lab.reach(lab.client2, to: Lab.hostClient2Side, port: 8080) == "g1-80", "other clients pass")
        }
        holds()
        let repairs = watch.repairs
        // Three things the service repairs; none moves our rule over the admin's.
        try lab.run(lab.host, "nft delete table inet libvirt_portfwd")
        try waitFor("the table to come back") { lab.capture(lab.host, "nft list tables").stdout.contains("table inet libvirt_portfwd\n") }
        holds()
        try lab.run(lab.host, Obstacle.libvirtIptablesNft.libvirtRestart)
        holds()
        try lab.run(lab.host, "iptables-nft -D FORWARD -m connmark --mark 0x10000000/0x10000000 -m comment --comment libvirt-portfwd -j ACCEPT")
        try waitFor("our accept to come back") { forward().contains { $0.hasSuffix("--comment libvirt-portfwd -j ACCEPT") } }
        holds()
        #expect(watch.repairs > repairs)
        #expect(!watch.log.contains("not first"), "\(watch.log)")
        #expect(lab.toolResult("status", config: config).status == 0, "an admin's block is no problem")
        // The admin's chain before our accept: another place to block, which the service never touches.
        try lab.run(lab.host, "iptables-nft -A LIBVIRT_PORTFWD_USER -s 203.0.113.2 -j DROP")
        #expect(lab.connect(lab.client2, to: Lab.hostClient2Side, port: 8080) == nil)
        try lab.run(lab.host, "nft delete table inet libvirt_portfwd")
        try waitFor("the table to come back") { lab.capture(lab.host, "nft list tables").stdout.contains("table inet libvirt_portfwd\n") }
        #expect(lab.capture(lab.host, "iptables-nft -S LIBVIRT_PORTFWD_USER").stdout.contains("-A LIBVIRT_PORTFWD_USER -s 203.0.113.2/32 -j DROP"))
        #expect(lab.connect(lab.client2, to: Lab.hostClient2Side, port: 8080) == nil)
    }

    /// `trace` names what drops: a rule in another table, an iptables REJECT, and libvirt's own
    /// reject (its iptables chains, and its nftables table).
    @Test(arguments: ["another table", "iptables reject", "libvirt iptables", "libvirt nftables"])
    func traceNamesWhatDrops(scene: String) throws {
        let lab = try Lab()
        defer { lab.close() }
        try lab.serve(lab.guest1, port: 80, reply: "g1-80")
        var admission = "auto", expected = ""
        switch scene {
        case "another table":
            try lab.run(lab.host, "nft add table ip other && nft add chain ip other f '{ type filter hook forward priority -5; policy accept; }' && "
                + "nft add rule ip other f ip saddr 198.51.100.2 tcp dport 80 drop")
            expected = "dropped by table ip other chain f: rule handle"
        case "iptables reject":
            try lab.run(lab.host, Obstacle.libvirtIptablesNft.script + "\niptables-nft -I FORWARD 1 -s 198.51.100.2 -j REJECT")
            expected = "dropped by table ip filter chain FORWARD: rule handle"
        case "libvirt iptables":
            try lab.run(lab.host, Obstacle.libvirtIptablesNft.script)
            admission = "none"
            expected = "dropped by table ip filter chain LIBVIRT_FWI: rule handle"
        default:
            try lab.run(lab.host, Obstacle.libvirtNftables.script)
            admission = "none"
            expected = "dropped by table ip libvirt_network chain guest_input: rule handle"
        }
        let config = try lab.config(config(.nftables, admission: admission))
        try lab.tool("apply --all", config: config)
        let trace = try Tracing(lab, "trace web1 8080 --timeout 20", config: config)
        #expect(lab.connect(lab.client1, to: Lab.hostOutside4, port: 8080) == nil)
        #expect(try trace.end() == 2)
        #expect(trace.text.contains(expected), "\(scene):\n\(trace.text)")
        #expect(trace.text.contains("packet 1: tcp 198.51.100.2:"), "\(trace.text)")
        if scene == "iptables reject" { #expect(trace.text.contains("(-s 198.51.100.2/32 -j REJECT --reject-with icmp-port-unreachable)")) }
        if scene == "another table" { #expect(trace.text.contains("ip saddr 198.51.100.2")) }
        #expect(!traceTable(lab))
    }

    /// A packet that gets through is followed out of the host, and the trace says so (exit 0).
    @Test func traceFollowsAPacketThatGetsThrough() throws {
        let lab = try Lab()
        defer { lab.close() }
        try lab.serve(lab.guest1, port: 80, reply: "g1-80")
        let config = try lab.config(config(.nftables))
        try lab.tool("apply --all", config: config)
        let trace = try Tracing(lab, "trace web1 8080 --timeout 20 --count 2", config: config)
        #expect(lab.reach(lab.client1, to: Lab.hostOutside4, port: 8080) == "g1-80")
        #expect(try trace.end() == 0, "\(trace.text)")
        #expect(trace.text.components(separatedBy: "delivered: it passed every chain and left the host").count == 3,
            "the SYN and its answer: \(trace.text)")
        #expect(trace.text.contains("[SYN,ACK]"), "the guest's answer is followed too")
        #expect(!traceTable(lab))
    }

    /// The trace table goes on every way out: SIGTERM, SIGINT, SIGHUP, the timeout.
    @Test(arguments: [SIGTERM, SIGINT, SIGHUP, 0])
    func traceCleansUpOnEveryWayOut(signal: Int32) throws {
        let lab = try Lab()
        defer { lab.close() }
        let config = try lab.config(config(.nftables))
        try lab.tool("apply --all", config: config)
        let trace = try Tracing(lab, "trace web1 --timeout \(signal == 0 ? 1 : 60)", config: config)
        #expect(traceTable(lab), "installed while it runs")
        if signal != 0 { kill(trace.pid, signal) }
        #expect(try trace.end() == 1)
        #expect(!traceTable(lab), "removed after \(signal == 0 ? "the timeout" : "signal \(signal)")")
        #expect(lab.capture(lab.host, "nft list tables").stdout.contains("table inet libvirt_portfwd\n"), "ours stays")
    }

    /// An isolated network whose bridge is called `iso+net` (`+` is iptables' wildcard; such a
    /// name used to be dropped unmatched): its guests reach no forward, on either backend.
    @Test(arguments: [Variant.nftables, .iptablesNft])
    func anIsolatedBridgeWithAnOddNameStaysIsolated(variant: Variant) throws {
        let lab = try Lab()
        defer { lab.close() }
        let tree = "\(lab.dir)/tree/etc/libvirt/qemu/networks"
        try FileManager.default.createDirectory(atPath: tree, withIntermediateDirectories: true)
        try Fixtures.defaultNetwork.write(toFile: "\(tree)/default.xml", atomically: true, encoding: .utf8)
        try "<network><name>iso</name><bridge name='iso+net'/><ip address='192.168.100.1' prefix='24'/></network>"
            .write(toFile: "\(tree)/iso.xml", atomically: true, encoding: .utf8)
        lab.toolArguments = variant.arguments + " --libvirt-root \(lab.dir)/tree"
        let iso = "\(lab.id)-i"
        try Shell.run("""
            set -e
            ip netns add \(iso)
            ip -n \(lab.host) link add 'iso+net' type bridge
            ip -n \(lab.host) addr add 192.168.100.1/24 dev 'iso+net'
            ip -n \(lab.host) link set 'iso+net' up
            ip link add i1 netns \(lab.host) type veth peer name eth0 netns \(iso)
            ip -n \(lab.host) link set i1 master 'iso+net' up
            ip -n \(iso) addr add 192.168.100.10/24 dev eth0
            ip -n \(iso) link set eth0 up
            ip -n \(iso) link set lo up
            """)
        defer { _ = Shell.capture("ip netns del \(iso)") }
        try lab.serve(lab.guest1, port: 80, reply: "g1-80")
        try lab.tool("apply --all", config: try lab.config(config(variant)))
        #expect(lab.reach(lab.client1, to: Lab.hostOutside4, port: 8080) == "g1-80")
        #expect(lab.connect(iso, to: "192.168.100.1", port: 8080) == nil, "a guest of the isolated network reaches no forward")
    }
}
