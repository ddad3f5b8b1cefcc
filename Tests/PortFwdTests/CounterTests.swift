import Foundation
import Testing
import PortFwd
import PortFwdCore
import PortFwdSystem

/// Counters belong to a forward of a guest: each forward counts apart (two host ports to one
/// guest port are two counters), on both sides of the forward path, and every table swap (a
/// guest starting, a lease, a repair) carries them over to the same guest's forward and to no
/// other. Proven on fakes that keep counters as state; RootForwardingTests and
/// RootPacketPathTests prove it with real packets.
@Suite struct CounterTests {
    static let one = """
        [[guest]]
        name = "web1"
        address = "192.168.122.10"
        forwards = ["8080:80", "8081:80", "9000-9009:9000-9009/udp"]

        """
    static let two = one + """
        [[guest]]
        name = "web2"
        address = "192.168.122.11"
        forwards = ["8082:80"]

        """

    /// `apply --all`: the configured guests, running or not.
    var all: Change { var c = Change.reapply; c.mode = .all; return c }

    func row(_ report: StatusReport, _ spec: String, guest: String? = nil) -> StatusReport.Row? {
        report.forwards.first { $0.spec == spec && (guest == nil || $0.guest == guest) }
    }

    /// Traffic of one forward, on the DNAT side and, `delivered` times, on the delivery side.
    func traffic(_ host: FakeHost, _ backend: Settings.Backend, port: String, udp: Bool = false, bytes: UInt64, delivered: Bool = true) {
        if backend == .nftables {
            let (set, element) = udp ? ("ranges", "0.0.0.0/0 . udp . \(port)") : ("any", "tcp . \(port)")
            host.nft.count("fwd4_\(set)", element, bytes: bytes)
            if delivered { host.nft.count("dlv4_\(set)", element, bytes: bytes) }
        } else {
            let match = "-p \(udp ? "udp" : "tcp") -m conntrack --ctorigdstport \(port.replacingOccurrences(of: "-", with: ":")) "
            host.iptables.count("iptables-nft", table: "mangle", chain: IptablesRenderer.count, matching: match, bytes: bytes)
            if delivered { host.iptables.count("iptables-nft", table: "mangle", chain: IptablesRenderer.delivered, matching: match, bytes: bytes) }
        }
    }

    @Test(arguments: [Settings.Backend.nftables, .iptables])
    func countersSurviveASwapPerForward(backend: Settings.Backend) throws {
        let host = FakeHost()
        _ = try host.reconciler(Self.one, override: backend).reconcile(all)
        // Three packets to 8080, delivered; two to 8081, of which something between dropped one; one to the UDP range.
        for _ in 0..<3 { traffic(host, backend, port: "8080", bytes: 100) }
        traffic(host, backend, port: "8081", bytes: 70, delivered: false)
        traffic(host, backend, port: "8081", bytes: 70)
        traffic(host, backend, port: "9000-9009", udp: true, bytes: 60)
        let before = try host.reconciler(Self.one, override: backend).status()
        #expect(row(before, "8080:80/tcp")?.packets == 3 && row(before, "8080:80/tcp")?.bytes == 300)
        #expect(row(before, "8080:80/tcp")?.deliveredPackets == 3 && row(before, "8080:80/tcp")?.deliveredBytes == 300)
        #expect(row(before, "8081:80/tcp")?.packets == 2 && row(before, "8081:80/tcp")?.deliveredPackets == 1,
                "two host ports to one guest port count apart")
        #expect(row(before, "8081:80/tcp")?.undelivered == 1)
        #expect(before.problems.isEmpty && before.warnings.allSatisfy { !$0.contains("8081") },
                "a packet lost with no chain to blame is no alarm: \(before.problems) \(before.warnings)")
        #expect(row(before, "9000-9009:9000-9009/udp")?.packets == 1 && row(before, "9000-9009:9000-9009/udp")?.deliveredPackets == 1)
        let swaps = backend == .nftables ? host.nft.mutationCount : host.iptables.calls.count
        // A second guest: a new plan, a new table.
        let after = try host.reconciler(Self.two, override: backend).reconcile(all)
        #expect(after.plan.entries.count == 4)
        #expect((backend == .nftables ? host.nft.mutationCount : host.iptables.calls.count) > swaps, "the table was swapped")
        let report = try host.reconciler(Self.two, override: backend).status()
        #expect(report.problems.isEmpty, "the carried counters are no drift: \(report.problems)")
        #expect(row(report, "8080:80/tcp")?.packets == 3 && row(report, "8080:80/tcp")?.bytes == 300)
        #expect(row(report, "8080:80/tcp")?.deliveredPackets == 3)
        #expect(row(report, "8081:80/tcp")?.packets == 2 && row(report, "8081:80/tcp")?.deliveredPackets == 1)
        #expect(row(report, "9000-9009:9000-9009/udp")?.packets == 1 && row(report, "9000-9009:9000-9009/udp")?.bytes == 60)
        #expect(row(report, "8082:80/tcp")?.packets == 0, "a new forward starts at zero")
    }

    /// A domain undefined and defined anew under the same name (another UUID), at the same
    /// address with the same forward: its forward starts from zero, not from the old one's
    /// packets; and while both records exist, each is its own series.
    @Test(arguments: [Settings.Backend.nftables, .iptables])
    func aNewGuestAtAnOldGuestsAddressInheritsNothing(backend: Settings.Backend) throws {
        let host = FakeHost()
        let config = """
            [[guest]]
            name = "web1"
            address = "192.168.122.10"
            forwards = ["8080:80"]

            """
        let old = try DomainUUID("00000000-0000-4000-8000-000000000001"), new = try DomainUUID("00000000-0000-4000-8000-000000000002")
        var start = Change.reapply
        start.record = [RunningGuest(uuid: old, name: try GuestName("web1"), address4: IPAddress("192.168.122.10"))]
        _ = try host.reconciler(config, override: backend).reconcile(start)
        for _ in 0..<5 { traffic(host, backend, port: "8080", bytes: 100) }
        #expect(row(try host.reconciler(config, override: backend).status(), "8080:80/tcp")?.packets == 5)
        var swap = Change.reapply
        swap.forget = [old]
        swap.record = [RunningGuest(uuid: new, name: try GuestName("web1"), address4: IPAddress("192.168.122.10"))]
        _ = try host.reconciler(config, override: backend).reconcile(swap)
        let report = try host.reconciler(config, override: backend).status()
        #expect(row(report, "8080:80/tcp")?.uuid == new.value)
        #expect(row(report, "8080:80/tcp")?.packets == 0, "the old guest's packets are not the new guest's")
        #expect(row(report, "8080:80/tcp")?.deliveredPackets == 0)
        #expect(report.problems.isEmpty, "\(report.problems)")
    }

    /// Packets that entered the forward path and none that left it: something between drops
    /// them, and status says so (exit 2); Prometheus' health follows.
    @Test(arguments: [Settings.Backend.nftables, .iptables])
    func noneDeliveredIsAProblem(backend: Settings.Backend) throws {
        let host = FakeHost()
        _ = try host.reconciler(Self.one, override: backend).reconcile(all)
        for _ in 0..<4 { traffic(host, backend, port: "8081", bytes: 60, delivered: false) }
        let report = try host.reconciler(Self.one, override: backend).status()
        #expect(!report.healthy)
        #expect(report.problems.contains { $0.hasPrefix("guest web1 forward 8081:80/tcp: 4 packets DNATed, none delivered") }, "\(report.problems)")
        #expect(PrometheusText(report).text.contains("libvirt_portfwd_healthy 0\n"))
    }

    /// The fingerprint of a table is its plan's, whatever counters it carries.
    @Test func countersAreNotPartOfThePlan() throws {
        let config = try Config.parse(Self.two)
        let plan = try Plan(guests: Resolver.resolve(config: config, running: [], all: true).guests, settings: config.settings)
        let renderer = NftRenderer()
        let keys = plan.entries.map(ForwardKey.init)
        #expect(Set(keys).count == 4, "one key per forward")
        var rng = SplitMix.printed("CounterTests.countersAreNotPartOfThePlan")
        func counts() -> Counts { Counts(packets: UInt64.random(in: 0...UInt64.max, using: &rng),
            bytes: UInt64.random(in: 0...UInt64.max, using: &rng)) }
        for _ in 0..<50 {
            let counters = Dictionary(uniqueKeysWithValues: plan.entries.filter { _ in Bool.random(using: &rng) }.map {
                (ForwardKey($0), ForwardCounters(owner: $0.owner, dnat: counts(), delivered: counts()))
            })
            let carried = renderer.render(plan, counters: counters)
            #expect(carried.contains(" counter packets ") == !counters.isEmpty)
            let read = try FakeNftables.readBack(renderer.transaction(plan, counters: counters))
            #expect(read.drift(from: try FakeNftables.readBack(renderer.transaction(plan))) == [])
            #expect(read.counters.filter { $0.value.dnat != .zero } == counters, "every counter carried, as typed values, with its owner")
            #expect(read.fingerprint == renderer.fingerprint(plan), "\(counters)")
        }
    }

    /// Whatever the counters held, a swap gives each forward only what its own guest counted.
    @Test func aSwapCarriesCountersOnlyToTheirOwner() throws {
        let plan = try Fixtures.plan(Self.two)
        var rng = SplitMix.printed("CounterTests.aSwapCarriesCountersOnlyToTheirOwner")
        let owners = plan.entries.map(\.owner) + ["00000000-0000-4000-8000-0000000000ff", "guest-0000000000000000"]
        for _ in 0..<100 {
            var held: Counters = [:]
            for e in plan.entries where Bool.random(using: &rng) {
                held[ForwardKey(e)] = ForwardCounters(owner: owners.randomElement(using: &rng), dnat: Counts(packets: 9, bytes: 9),
                    delivered: Counts(packets: 8, bytes: 8))
            }
            let table = NftTable(plan: plan, counters: held)
            for set in table.sets where CountSet(name: set.name) != nil {
                for element in set.elements {
                    guard let counter = element.counter else { continue }
                    let key = try #require(ForwardKey(family: CountSet(name: set.name)!.family, kind: CountSet(name: set.name)!.kind, element.key))
                    let entry = try #require(plan.entries.first { ForwardKey($0) == key })
                    #expect(held[key]?.owner == entry.owner, "\(set.name) \(element) carried \(counter) from another owner")
                }
            }
        }
    }
}

extension CounterTests {
    /// Forwards of every kind (one port, a range, bound to an address) in both families.
    static let everyKind = """
        [[guest]]
        name = "web1"
        address = "192.168.122.10"
        address6 = "fd00:122::10"
        forwards = ["8080:80", "8000-8010:9000-9010", "198.51.100.1:8443:443", "[2001:db8::1]:8444:443"]

        """

    /// A swap reads only the count sets its plan fills: from a table whose every count set
    /// counted, the new table is the same as if every set had been read, whichever of the
    /// forwards before are still there.
    @Test func aSwapNeedsOnlyTheCountSetsItsPlanFills() throws {
        let before = try Fixtures.plan(Self.everyKind)
        #expect(CountSet.filled(by: before) == CountSet.all)
        #expect(CountSet.filled(by: try Fixtures.plan(Fixtures.web1)).map(\.name) == ["fwd4_any", "dlv4_any"])
        #expect(CountSet.filled(by: .empty(before.settings)).isEmpty)
        let renderer = NftRenderer()
        var rng = SplitMix.printed("CounterTests.aSwapNeedsOnlyTheCountSetsItsPlanFills")
        let spellings = ["8080:80", "8000-8010:9000-9010", "198.51.100.1:8443:443", "[2001:db8::1]:8444:443", "8081:80/udp",
            "[2001:db8::1]:9000-9001"]
        for _ in 0..<50 {
            var held: Counters = [:]
            for e in before.entries where Bool.random(using: &rng) {
                held[ForwardKey(e)] = ForwardCounters(owner: e.owner, dnat: Counts(packets: 9, bytes: 900), delivered: Counts(packets: 8, bytes: 800))
            }
            let installed = NftTable(plan: before, counters: held)
            let kept = spellings.filter { _ in Bool.random(using: &rng) }
            let after = try Fixtures.plan(Self.everyKind.replacingOccurrences(of: #"forwards = ["8080:80", "8000-8010:9000-9010", "#
                + #""198.51.100.1:8443:443", "[2001:db8::1]:8444:443"]"#,
                with: "forwards = [\(kept.map { "\"\($0)\"" }.joined(separator: ", "))]"))
            var read = NftTable()
            read.sets = installed.sets.filter { set in CountSet.filled(by: after).contains { $0.name == set.name } }
            #expect(renderer.render(after, counters: read.counters) == renderer.render(after, counters: installed.counters), "\(kept)")
        }
    }

    /// nft 1.0's JSON prints a counter of 2^63 or more as a negative number: read back as the
    /// same 64 bits, not as zero (which a swap would then carry).
    @Test func countersPastTwoToTheSixtyThirdAreReadWhole() throws {
        let json = """
            {"nftables": [{"set": {"family": "inet", "name": "fwd4_any", "table": "libvirt_portfwd",
              "type": ["inet_proto", "inet_service"], "stmt": [{"counter": null}], "elem": [
              {"elem": {"val": {"concat": ["tcp", 8080]}, "comment": "x", "counter": {"packets": -1, "bytes": -9223372036854775808}}}]}}]}
            """
        let counters = try NftJSON.counters(json)
        #expect(counters[ForwardKey(family: .ipv4, hostAddress: nil, proto: .tcp, hostPorts: PortRange(port: 8080)!)]
                == ForwardCounters(owner: "x", dnat: Counts(packets: UInt64.max, bytes: 1 << 63), delivered: nil))
    }
}
