import Testing
@testable import PortFwd
@testable import PortFwdCore
@testable import PortFwdSystem

/// Drift at the element level without root: the fake nftables holds the table as typed objects
/// and takes `add element` and `delete element` as nft does, so a change behind our back is
/// named element by element, and one reconcile puts it back (what the service's repair does).
@Suite struct DriftTests {
    let host = FakeHost()
    /// Every configured guest covered, as after `apply --all`.
    var all: Change { var c = Change.reapply; c.mode = .all; return c }
    static let config = """
        [[guest]]
        name = "web1"
        address = "192.168.122.10"
        forwards = ["8080:80", { spec = "22", sources = ["198.51.100.0/24"] }]

        """

    @Test func anElementTakenOrAddedBehindOurBackIsNamedAndRepaired() throws {
        let reconciler = try host.reconciler(Self.config)
        let plan = try reconciler.reconcile(all).plan
        #expect(try reconciler.drift(from: plan) == [])
        host.nft.count("count4", "192.168.122.10 . tcp . 80", bytes: 1000)

        _ = try host.nft.run("delete element inet libvirt_portfwd dnat4_any { tcp . 8080 }")
        _ = try host.nft.run("add element inet libvirt_portfwd allow4_any { 203.0.113.0/24 . tcp . 22 }")
        _ = try host.nft.run("delete element inet libvirt_portfwd count4 { 192.168.122.10 . tcp . 22 }")
        #expect(try reconciler.drift(from: plan) == [
            "table inet libvirt_portfwd: set allow4_any holds 203.0.113.0/24 . tcp . 22, which is not in the plan",
            "table inet libvirt_portfwd: set count4 lacks 192.168.122.10 . tcp . 22",
            "table inet libvirt_portfwd: map dnat4_any lacks tcp . 8080 : 192.168.122.10 . 80",
        ])

        _ = try reconciler.reconcile(.reapply)
        #expect(try reconciler.drift(from: plan) == [])
        #expect(host.nft.elements("dnat4_any") == ["tcp . 22 : 192.168.122.10 . 22", "tcp . 8080 : 192.168.122.10 . 80"])
        #expect(host.nft.elements("allow4_any") == ["198.51.100.0/24 . tcp . 22"])
        let counters = try #require(try reconciler.backends.selected.counters(for: plan))
        #expect(counters[Endpoint(address: IPAddress("192.168.122.10")!, proto: .tcp, ports: PortRange(port: 80)!)] == Counts(packets: 1, bytes: 1000),
                "the repair carried the counter across the swap")
    }

    /// A set swapped for one of another declaration is named as such, not element by element.
    @Test func aSetOfAnotherDeclarationIsNamed() throws {
        let reconciler = try host.reconciler(Self.config)
        let plan = try reconciler.reconcile(all).plan
        var table = try #require(host.nft.table)
        let index = try #require(table.sets.firstIndex { $0.name == "allow4_any" })
        table.sets[index].interval = false
        _ = try host.nft.run(NftRenderer().render(table))
        #expect(try reconciler.drift(from: plan) == [
            "table inet libvirt_portfwd: set allow4_any is declared ipv4_addr . inet_proto . inet_service, "
                + "the plan ipv4_addr . inet_proto . inet_service, flags interval",
        ])
    }
}
