import Testing
@testable import PortFwd
import PortFwdCore

/// Where the order of calls itself matters, pinned: what an apply asks of the system.
/// Everything else about the backends is asserted on the resulting rules (KernelTests,
/// AtomicityTests, IptablesTests, CounterTests, on the kernel or on fakes that keep state).
@Suite struct BackendCallTests {
    /// libnftables answers `list tables` by fetching every table whole, and after a large
    /// commit its next read does the same; so no `list tables` (`NftQuery` has no such
    /// listing), and every survey listing comes
    /// before the one transaction, which carries libvirt-table admission along with the swap.
    @Test func nftablesApplyListsNoTablesAndSurveysBeforeTheOneTransaction() throws {
        let host = FakeHost()
        host.nft.addLibvirtTables()
        let backend = NftablesBackend(nft: host.nft, commands: host.iptables, procNet: host.iptables.procNet.path)
        try backend.apply(try Fixtures.plan(Fixtures.web1))
        let calls = host.nft.calls
        // The survey, and the counters the swap carries over, then the one transaction.
        let listings = calls.dropLast().compactMap { call -> NftQuery? in if case .list(let q) = call { q } else { nil } }
        #expect(listings.allSatisfy { q in
            switch q {
            case .chain: true
            case .set(.ours, let name): name.hasPrefix("fwd") || name.hasPrefix("dlv")
            default: false
            }
        }, "\(listings)")
        guard case .commit(let swap, dryRun: false) = try #require(calls.last) else { Issue.record("no transaction last"); return }
        guard case .insertRule(LibvirtForwardChain.nftTable(.ipv4), chain: "forward", _, before: _) = try #require(swap.commands.first) else {
            Issue.record("admission rides in the same transaction: \(swap.commands)")
            return
        }
        #expect(swap.commands.contains { if case .delete(.table(.ours)) = $0 { true } else { false } })
        #expect(host.nft.rules(.ipv4, "forward").first == LibvirtForwardChain.rule(.default).text)
    }

    /// The counters a swap carries are read from the count sets the plan fills, and no others:
    /// one forward on every address is two reads, not one per count set there is.
    @Test func nftablesApplyReadsOnlyTheCountSetsItFills() throws {
        let host = FakeHost()
        let backend = NftablesBackend(nft: host.nft, commands: host.iptables, procNet: host.iptables.procNet.path)
        try backend.apply(try Fixtures.plan(Fixtures.web1))
        try backend.apply(try Fixtures.plan(Fixtures.web1))
        let read = host.nft.calls.compactMap { c -> String? in if case .elements(.ours, let name) = c { name } else { nil } }
        #expect(read == ["fwd4_any", "dlv4_any", "fwd4_any", "dlv4_any"])
        #expect(!host.nft.queries.contains { if case .set = $0 { true } else { false } }, "no set is listed through libnftables")
    }

    /// One save per family (with counters, carried into the new chains) feeds the jump fixes; a test pass of everything, then one commit
    /// per table (a restore commits table by table, so each must be undoable on its own).
    @Test func iptablesApplyIsOneSaveATestAndACommitPerTable() throws {
        let host = FakeHost()
        let backend = IptablesBackend(commands: host.iptables, nft: nil, flavour: .nft, procNet: host.iptables.procNet.path)
        try backend.apply(try Fixtures.plan(Fixtures.web1))
        let calls = host.iptables.calls.map { $0.argv.joined(separator: " ") }
        #expect(calls == [
            "iptables-nft-save -c",
            "ip6tables-nft-save -c",
            "iptables-nft-restore -w --noflush --test",
            "iptables-nft-restore -w --noflush",
            "iptables-nft-restore -w --noflush",
            "iptables-nft-restore -w --noflush",
        ])
        let nat = try #require(host.iptables.calls[3].input), mangle = try #require(host.iptables.calls[4].input)
        let filter = try #require(host.iptables.calls[5].input)
        #expect(nat.hasPrefix("*nat\n") && nat.hasSuffix("-I POSTROUTING 1 -m comment --comment libvirt-portfwd -j LIBVIRT_PORTFWD_POST\nCOMMIT\n"))
        #expect(mangle.hasPrefix("*mangle\n") && mangle.hasSuffix("-I POSTROUTING 1 -m connmark --mark 0x10000000/0x10000000 -m comment --comment "
            + "libvirt-portfwd -j LIBVIRT_PORTFWD_DLV\nCOMMIT\n"))
        #expect(filter.hasPrefix("*filter\n:LIBVIRT_PORTFWD_USER - [0:0]\n") && filter.hasSuffix("-I FORWARD 1 -m comment --comment libvirt-portfwd "
            + "-j LIBVIRT_PORTFWD_FWD\nCOMMIT\n"))
        #expect(host.iptables.calls[2].input == nat + mangle + filter)
        // And what the calls did, in the fake's tables: the forward is in place, first in line.
        #expect(host.iptables.rules("iptables-nft", "nat", "PREROUTING").first?.hasSuffix("-j LIBVIRT_PORTFWD_PRE") == true)
        #expect(host.iptables.rules("iptables-nft", "filter", "FORWARD").first?.hasSuffix("-j LIBVIRT_PORTFWD_FWD") == true)
        let dnat = host.iptables.rules("iptables-nft", "nat", "LIBVIRT_PORTFWD_PRE").joined(separator: "\n")
        #expect(dnat.contains("--dport 8080") && dnat.contains("--to-destination 192.168.122.10:80"), "\(dnat)")
        #expect(host.iptables.rules("ip6tables-nft", "nat", "LIBVIRT_PORTFWD_PRE").allSatisfy { !$0.contains("DNAT") })
    }
}
