import Foundation
import Testing
import PortFwd
import PortFwdCore
@testable import PortFwdSystem

/// Checks against a real kernel, each in a throwaway network namespace.
@Suite(.privileged, .serialized) struct RootKernelTests {
    @Test(arguments: GoldenRulesetTests.examples)
    func goldenRulesetIsAcceptedByTheKernel(name: String) throws {
        let text = try String(contentsOfFile: "\(Paths.rulesets)/\(name).nft", encoding: .utf8)
        try IsolatedNetwork.run {
            let nft = LibNftables()
            _ = try nft.run(text, json: false, dryRun: true)
            // A dry run commits nothing.
            #expect(!(try nft.run("list tables")).contains("libvirt_portfwd"))
            // And the real thing, twice: replacing works whether or not the table exists.
            _ = try nft.run(text)
            _ = try nft.run(text)
            #expect(try nft.run("list tables").contains("table inet libvirt_portfwd"))
        }
    }

    /// Appends a statement the kernel refuses at commit time (a dnat in a filter chain):
    /// nft's userspace checks pass it, so the failure happens inside the transaction.
    struct KernelFault: NftablesRunner {
        let real: LibNftables
        func commit(_ transaction: NftTransaction, dryRun: Bool) throws(PortFwdError) {
            try real.commit(transaction + NftTransaction([.addRule(.ours, chain: "forwarded", NftRule("dnat ip to 192.0.2.1"))]), dryRun: dryRun)
        }
        func list(_ query: NftQuery) throws(PortFwdError) -> String { try real.list(query) }
    }

    @Test func failedApplyLeavesThePreviousTableByteForByte() throws {
        try IsolatedNetwork.run {
            let real = LibNftables()
            let state = TempDir()
            let store = StateStore(directory: "\(state.path)/run")
            let first = try Config.parse("[settings]\nadmission = \"none\"\n[[guest]]\nname = \"a\"\naddress = \"192.168.122.10\"\nforwards = "
                + "[\"8080:80\"]\n")
            let second = try Config.parse("[settings]\nadmission = \"none\"\n[[guest]]\nname = \"a\"\naddress = \"192.168.122.10\"\nforwards = "
                + "[\"9090:90\", \"53/udp\"]\n")
            func reconciler(_ nft: NftablesRunner, _ config: Config) -> Reconciler {
                Reconciler(config: config, store: store, host: Host(nft: nft, commands: FakeIptables(), procNet: "/nonexistent", backend: .nftables))
            }
            var all = Change.reapply
            all.mode = .all
            _ = try reconciler(real, first).reconcile(all)
            let before = try real.run("list table inet libvirt_portfwd")
            #expect(before.contains("tcp . 8080 : 192.168.122.10 . 80"))

            #expect(throws: PortFwdError.self) { _ = try reconciler(KernelFault(real: real), second).reconcile(all) }
            let after = try real.run("list table inet libvirt_portfwd")
            #expect(after == before)
        }
    }

    @Test func failedApplyReportsLibnftablesOwnError() throws {
        try IsolatedNetwork.run {
            let nft = LibNftables()
            let x = NftTableID("inet", "x")
            let error = expectError(PortFwdError.self) { try nft.commit(.addTable(x, nil), .addRule(x, chain: "nochain", NftRule("accept"))) }
            #expect(error?.message.contains("No such file or directory") == true)
            #expect(error?.code == .notFound, "classified once, at the libnftables boundary")
        }
    }

    @Test func countersAreReadBackPerForward() throws {
        try IsolatedNetwork.run {
            let nft = LibNftables()
            let config = try ConfigFile.load(path: "\(Paths.rulesets)/full.toml", required: true)
            let backend = NftablesBackend(nft: nft, commands: FakeIptables(), procNet: "/nonexistent")
            let plan = try Plan(guests: Resolver.resolve(config: config, running: [], all: true).guests, settings: config.settings)
            #expect(try backend.counters(for: plan) == nil)
            _ = try backend.apply(plan)
            let counters = try #require(try backend.counters(for: plan))
            let range = ForwardKey(family: .ipv4, hostAddress: nil, proto: .udp, hostPorts: PortRange(10000, 10009)!)
            let bound = ForwardKey(family: .ipv6, hostAddress: IPAddress("2001:db8::1"), proto: .tcp, hostPorts: PortRange(port: 8443)!)
            #expect(counters[range]?.dnat == .zero && counters[range]?.delivered == .zero)
            #expect(counters[bound]?.dnat == .zero && counters[bound]?.delivered == .zero)
            #expect(counters.count == plan.entries.count, "one counter per forward: \(counters.keys.sorted())")
            #expect(counters.allSatisfy { key, c in plan.entries.contains { ForwardKey($0) == key && $0.owner == c.owner } }, "each with its owner")
            // What the kernel counted is carried by the next swap, ranges included, and the
            // carried table has its plan's fingerprint: no drift.
            let renderer = NftRenderer(replace: nft.hasDestroy ? .destroy : .declareAndDelete)
            let seeded = counters.mapValues { ForwardCounters(owner: $0.owner, dnat: Counts(packets: 7, bytes: 4200),
                delivered: Counts(packets: 6, bytes: 4100)) }
            try nft.commit(renderer.transaction(plan, counters: seeded))
            #expect(try backend.drift(from: plan) == [])
            _ = try backend.apply(plan)
            #expect(try backend.counters(for: plan) == seeded)
            try backend.remove()
            #expect(try backend.counters(for: plan) == nil)
        }
    }

    /// The kernel's own listing of an installed plan reduces to the renderer's sets and chains:
    /// no drift right after an apply, and each kind of tampering is named.
    @Test(arguments: GoldenRulesetTests.examples)
    func driftIsNoneAfterApplyAndNamesTampering(name: String) throws {
        let config = try ConfigFile.load(path: "\(Paths.rulesets)/\(name).toml", required: true)
        let plan = try Plan(guests: Resolver.resolve(config: config, running: [], all: true).guests, settings: config.settings)
        try IsolatedNetwork.run {
            let nft = LibNftables()
            let backend = NftablesBackend(nft: nft, commands: FakeIptables(), procNet: "/nonexistent")
            #expect(try backend.drift(from: plan).map(\.description).contains("table inet libvirt_portfwd is missing"))
            try backend.apply(plan)
            #expect(try backend.drift(from: plan) == [])
            if let element = NftTable(plan: plan).set("dnat4_any")?.elements.first {
                try nft.commit(.delete(.elements(.ours, set: "dnat4_any", [element])))
                #expect(try backend.drift(from: plan).map(\.description) == ["table inet libvirt_portfwd: map dnat4_any lacks \(element)"])
            } else {
                // A plan without IPv4 forwards: an element put in behind our back.
                let port = NftValue.ports(PortRange(port: 1)!)
                try nft.commit(.addElements(.ours, set: "dnat4_any", [NftElement([.proto(.tcp), port],
                    data: [.address(IPAddress("192.0.2.1")!), port])]))
                #expect(try backend.drift(from: plan).map(\.description) == ["table inet libvirt_portfwd: map dnat4_any holds tcp . 1 : 192.0.2.1 . "
                    + "1, which is not in the plan"])
            }
            _ = try nft.run("chain inet libvirt_portfwd forward { policy drop; }")
            let dropped = try backend.drift(from: plan).map(\.description)
            #expect(dropped.count == 2 && dropped.last == "table inet libvirt_portfwd: chain forward is hooked filter forward -2147483648, policy "
                + "drop, the plan hooked filter forward -2147483648, policy accept",
                    "the element tampered with above, and the policy: \(dropped)")
            _ = try nft.run("chain inet libvirt_portfwd forward { policy accept; }")
            _ = try nft.run("flush chain inet libvirt_portfwd prerouting")
            #expect(try backend.drift(from: plan).map(\.description).contains("table inet libvirt_portfwd: chain prerouting lacks its rule local4"))
            #expect(try backend.drift(from: plan).map(\.description).contains("table inet libvirt_portfwd: chain prerouting lacks its rule local6"))
            let other = try Fixtures.plan(Fixtures.web1 + "[settings]\nmark = 0x4\n")
            #expect(try backend.drift(from: other).map(\.description).first?.hasPrefix("table inet libvirt_portfwd holds another plan") == true)
        }
    }

    /// Without privileges libnftables may not list the ruleset; `auto` must still mean nftables
    /// there, so a user's `export` prints the table, not iptables-restore input.
    @Test func exportAsAnUnprivilegedUserStillRendersNftables() throws {
        let dir = NSTemporaryDirectory() + "pf-user-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Shell.run("cp \(Paths.binary) \(Paths.rulesets)/basic.toml \(dir)/ && chmod 755 \(dir)/libvirt-portfwd && chmod 644 \(dir)/basic.toml")
        let out = try Shell.run("setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all \(dir)/libvirt-portfwd export --all --config "
            + "\(dir)/basic.toml --state-dir \(dir)/state")
        let golden = try String(contentsOfFile: "\(Paths.rulesets)/basic.nft", encoding: .utf8)
        #expect(out == golden)
    }
}
