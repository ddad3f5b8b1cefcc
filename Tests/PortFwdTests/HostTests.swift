import Testing
import PortFwd
import PortFwdCore

/// One `Host` per process: the kernel is asked once whether libnftables reaches it, however
/// many reconcilers, transactions and status reports are built on it; what needs no kernel
/// asks nothing.
@Suite struct HostTests {
    let host = FakeHost()
    var probes: Int {
        host.nft.calls.filter { if case .exists(let id, chain: nil) = $0 { id.name == "libvirt_portfwd_probe" } else { false } }.count
    }
    var all: Change { var c = Change.reapply; c.mode = .all; return c }

    @Test func theKernelIsProbedOncePerHost() throws {
        let shared = host.host()
        let config = try Config.parse(Fixtures.web1)
        for _ in 0..<3 {
            let reconciler = Reconciler(config: config, store: host.store, libvirt: host.libvirt, host: shared)
            _ = try reconciler.reconcile(all)
            _ = try reconciler.status()
        }
        #expect(probes == 1)
        #expect(host.nft.elements("dnat4_any") == ["tcp . 8080 : 192.168.122.10 . 80"])
    }

    /// `export` and `check` without `--kernel`: `auto` means nftables, and nothing is asked.
    @Test func anUnprobedHostAsksNothing() throws {
        let unprobed = host.host().unprobed
        #expect(unprobed.backends(try Config.parse(Fixtures.web1).settings).selected.name == .nftables)
        host.nft.strictFirewalld = true
        #expect(try unprobed.firewalldRejectsForwards() == nil)
        #expect(host.nft.calls.isEmpty)
    }

    /// firewalld's strict mode is asked every time: it can change under a running service.
    @Test func firewalldsStrictModeIsAskedEachTime() throws {
        let shared = host.host()
        #expect(try shared.firewalldRejectsForwards() == false)
        host.nft.strictFirewalld = true
        #expect(try shared.firewalldRejectsForwards() == true)
        let reconciler = try host.reconciler(Fixtures.web1)
        let outcome = try reconciler.reconcile(all)
        #expect(outcome.warnings.map(\.message) == [Firewalld.strictProblem])
        #expect(try reconciler.status().problems.contains(Firewalld.strictProblem))
    }
}
