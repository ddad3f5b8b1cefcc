import Foundation
import Testing
@testable import PortFwd

/// Runs iptables commands inside a network namespace, optionally corrupting the committing
/// restore (not the `--test` pass) with an invalid address: the test-only seam for atomicity.
struct NamespacedCommands: CommandRunner {
    let namespace: String
    var corrupt = false

    func run(_ argv: [String], input: String?) throws(CommandError) -> CommandResult {
        var input = input
        if corrupt, argv[0].hasSuffix("-restore"), !argv.contains("--test"), let text = input,
           let commit = text.range(of: "COMMIT") {
            input = text.replacingCharacters(in: commit, with: "-A LIBVIRT_PORTFWD_PRE -d 999.0.0.1/32 -j ACCEPT\nCOMMIT")
        }
        return try ProcessRunner().run(["/usr/sbin/ip", "netns", "exec", namespace] + argv, input: input)
    }
}

@Suite(.privileged, .serialized) struct RootIptablesTests {
    /// A namespace, and a process parked in it whose /proc/PID/net shows the namespace's
    /// legacy tables (the backend runs in this process, its commands in the namespace).
    func withNamespace(_ body: (String) throws -> Void) throws {
        let ns = "pfipt" + String(UInt32.random(in: 0..<UInt32.max), radix: 16)
        try Shell.run("ip netns add \(ns)")
        let sleeper = try Spawn.start(["/usr/sbin/ip", "netns", "exec", ns, "sleep", "600"])
        procNet = "/proc/\(sleeper)/net"
        defer {
            kill(sleeper, SIGKILL)
            _ = Spawn.wait(sleeper)
            _ = Shell.capture("ip netns del \(ns)")
        }
        for _ in 0..<50 where (try? String(contentsOfFile: "/proc/\(sleeper)/comm", encoding: .utf8)) != "sleep\n" { usleep(20_000) }
        try body(ns)
    }

    private var procNetBox = Box()
    private var procNet: String {
        get { procNetBox.value }
        nonmutating set { procNetBox.value = newValue }
    }
    final class Box: @unchecked Sendable { var value = "/proc/net" }

    func plan(_ toml: String) throws -> Plan {
        let config = try Config.parse(toml)
        return try Plan(guests: Resolver.guests(config: config, running: [], all: true).guests, settings: config.settings)
    }

    func backend(_ ns: String, _ flavor: IptablesFlavor, corrupt: Bool = false) -> IptablesBackend {
        let commands = NamespacedCommands(namespace: ns, corrupt: corrupt)
        // /proc/net of the namespace, so legacy detection looks at its tables, not ours.
        let admission = Admission(nft: nil, commands: commands, mark: Mark.default, mode: .none, procNet: procNet)
        return IptablesBackend(commands: commands, admission: admission, flavor: flavor, procNet: procNet)
    }

    func save(_ ns: String, _ flavor: IptablesFlavor) throws -> String {
        try Shell.run("ip netns exec \(ns) iptables-\(flavor.rawValue)-save; ip netns exec \(ns) ip6tables-\(flavor.rawValue)-save")
            .split(separator: "\n").filter { !$0.hasPrefix("#") }
            .map { $0.replacingOccurrences(of: #"\[[0-9]+:[0-9]+\]"#, with: "", options: .regularExpression) }
            .joined(separator: "\n")
    }

    static let one = "[[guest]]\nname = \"a\"\naddress = \"192.168.122.10\"\naddress6 = \"fd00:122::10\"\nforwards = [\"8080:80\", \"8000-8009:9000-9009/udp\"]\n"
    static let other = "[[guest]]\nname = \"a\"\naddress = \"192.168.122.10\"\nforwards = [\"9090:90\"]\n"

    @Test(arguments: IptablesFlavor.allCases)
    func failedRestoreLeavesThePreviousChainsExactly(flavor: IptablesFlavor) throws {
        try withNamespace { ns in
            _ = try backend(ns, flavor).apply(try plan(Self.one))
            let before = try save(ns, flavor)
            #expect(before.contains("--to-destination 192.168.122.10:9000-9009/8000"))
            let error = #expect(throws: FirewallError.self) { _ = try backend(ns, flavor, corrupt: true).apply(try plan(Self.other)) }
            #expect(error?.message.contains("refused the rules, nothing changed") == true)
            #expect(try save(ns, flavor) == before)
        }
    }

    @Test(arguments: IptablesFlavor.allCases)
    func flushLeavesIptablesSaveAsBeforeInstall(flavor: IptablesFlavor) throws {
        try withNamespace { ns in
            // libvirt 9's own rules for a NAT network, in filter and nat, as the host would have them.
            let tool = "iptables-\(flavor.rawValue)"
            try Shell.run("""
                set -e
                ip netns exec \(ns) sh -ec '
                for c in LIBVIRT_FWX LIBVIRT_FWI LIBVIRT_FWO; do \(tool) -N $c; \(tool) -A FORWARD -j $c; done
                \(tool) -A LIBVIRT_FWI -o virbr0 -j REJECT
                \(tool) -t nat -N LIBVIRT_PRT; \(tool) -t nat -A POSTROUTING -j LIBVIRT_PRT
                \(tool) -t nat -A LIBVIRT_PRT -s 192.168.122.0/24 ! -d 192.168.122.0/24 -j MASQUERADE'
                """)
            let before = try save(ns, flavor)
            let b = backend(ns, flavor)
            _ = try b.apply(try plan(Self.other))
            _ = try b.apply(try plan(Self.other))
            let installed = try save(ns, flavor)
            #expect(installed.contains("-A PREROUTING -m addrtype --dst-type LOCAL -m comment --comment libvirt-portfwd -j LIBVIRT_PORTFWD_PRE"))
            #expect(installed.components(separatedBy: "-j LIBVIRT_PORTFWD_FWD").count == 2, "exactly one FORWARD jump")
            try b.remove()
            #expect(try save(ns, flavor) == before)
        }
    }

    @Test func jumpsMoveBackToTheTopAndStayUnique() throws {
        try withNamespace { ns in
            let b = backend(ns, .nft)
            _ = try b.apply(try plan(Self.other))
            try Shell.run("ip netns exec \(ns) iptables-nft -I FORWARD 1 -j ACCEPT; ip netns exec \(ns) iptables-nft -t nat -I PREROUTING 1 -j RETURN")
            _ = try b.apply(try plan(Self.other))
            let forward = try Shell.run("ip netns exec \(ns) iptables-nft -S FORWARD").split(separator: "\n").filter { $0.hasPrefix("-A") }
            #expect(forward.first?.hasSuffix("-j LIBVIRT_PORTFWD_FWD") == true, "\(forward)")
            #expect(forward.filter { $0.hasSuffix("-j LIBVIRT_PORTFWD_FWD") }.count == 1)
            let pre = try Shell.run("ip netns exec \(ns) iptables-nft -t nat -S PREROUTING").split(separator: "\n").filter { $0.hasPrefix("-A") }
            #expect(pre.first?.hasSuffix("-j LIBVIRT_PORTFWD_PRE") == true, "\(pre)")
        }
    }

    @Test func familyWithoutForwardsGetsNoChains() throws {
        try withNamespace { ns in
            let b = backend(ns, .nft)
            _ = try b.apply(try plan(Self.one))
            #expect(try Shell.run("ip netns exec \(ns) ip6tables-nft-save").contains("LIBVIRT_PORTFWD_PRE"))
            _ = try b.apply(try plan(Self.other))
            #expect(try !Shell.run("ip netns exec \(ns) ip6tables-nft-save").contains("LIBVIRT_PORTFWD"))
            #expect(try Shell.run("ip netns exec \(ns) iptables-nft-save").contains("--dport 9090 -j DNAT"))
        }
    }
}

@Suite struct IptablesCounterTests {
    @Test func countingRulesOfBothDirectionsAddUp() {
        let lines = [
            "[7:420] -A LIBVIRT_PORTFWD_FWD -d 192.168.122.10/32 -p tcp -m tcp --dport 80 -m connmark --mark 0x10000000/0x10000000",
            "[5:900] -A LIBVIRT_PORTFWD_FWD -s 192.168.122.10/32 -p tcp -m tcp --sport 80 -m connmark --mark 0x10000000/0x10000000",
            "[1:60] -A LIBVIRT_PORTFWD_FWD -d fd00:122::10/128 -p udp -m udp --dport 9000:9009 -m connmark --mark 0x10000000/0x10000000",
            "[12:1320] -A LIBVIRT_PORTFWD_FWD -m connmark --mark 0x10000000/0x10000000 -j ACCEPT",
        ]
        #expect(IptablesBackend.merge(IptablesBackend.counters(lines)) == [
            EndpointCounter(address: "192.168.122.10", proto: "tcp", ports: "80", packets: 12, bytes: 1320),
            EndpointCounter(address: "fd00:122::10", proto: "udp", ports: "9000-9009", packets: 1, bytes: 60),
        ])
    }
}
