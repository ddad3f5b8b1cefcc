import Foundation
import Testing
@testable import PortFwd
@testable import PortFwdCore
@testable import PortFwdSystem

/// Counters survive every table swap (a guest starting, a lease, a repair): each backend reads
/// them before the swap and writes them into the new table or chains. Proven on fakes that
/// keep counters as state; RootForwardingTests proves it with real packets.
@Suite struct CounterTests {
    static let one = """
        [[guest]]
        name = "web1"
        address = "192.168.122.10"
        forwards = ["8080:80", "9000-9009:9000-9009/udp"]

        """
    static let two = one + """
        [[guest]]
        name = "web2"
        address = "192.168.122.11"
        forwards = ["8081:80"]

        """

    /// `apply --all`: the configured guests, running or not.
    var all: Change { var c = Change.reapply; c.mode = .all; return c }

    func row(_ report: StatusReport, _ spec: String) -> StatusReport.Row? { report.forwards.first { $0.spec == spec } }

    @Test(arguments: [Settings.Backend.nftables, .iptables])
    func countersSurviveASwap(backend: Settings.Backend) throws {
        let host = FakeHost()
        _ = try host.reconciler(Self.one, override: backend).reconcile(all)
        // Traffic: three packets to 8080 and one to the UDP range.
        for _ in 0..<3 {
            if backend == .nftables {
                host.nft.count("count4", "192.168.122.10 . tcp . 80", bytes: 100)
            } else {
                host.iptables.count("iptables-nft", chain: IptablesRenderer.forward, matching: "-d 192.168.122.10/32 -p tcp", bytes: 100)
            }
        }
        if backend == .nftables {
            host.nft.count("count4_ranges", "192.168.122.10 . udp . 9000-9009", bytes: 60)
        } else {
            host.iptables.count("iptables-nft", chain: IptablesRenderer.forward, matching: "-s 192.168.122.10/32 -p udp", bytes: 60)
        }
        let before = try host.reconciler(Self.one, override: backend).status()
        #expect(row(before, "8080:80/tcp")?.packets == 3 && row(before, "8080:80/tcp")?.bytes == 300)
        #expect(row(before, "9000-9009:9000-9009/udp")?.packets == 1)
        let swaps = backend == .nftables ? host.nft.mutationCount : host.iptables.calls.count
        // A second guest: a new plan, a new table.
        let after = try host.reconciler(Self.two, override: backend).reconcile(all)
        #expect(after.plan.entries.count == 3)
        #expect((backend == .nftables ? host.nft.mutationCount : host.iptables.calls.count) > swaps, "the table was swapped")
        let report = try host.reconciler(Self.two, override: backend).status()
        #expect(report.problems.isEmpty, "the carried counters are no drift: \(report.problems)")
        #expect(row(report, "8080:80/tcp")?.packets == 3 && row(report, "8080:80/tcp")?.bytes == 300)
        #expect(row(report, "9000-9009:9000-9009/udp")?.packets == 1 && row(report, "9000-9009:9000-9009/udp")?.bytes == 60)
        #expect(row(report, "8081:80/tcp")?.packets == 0, "a new endpoint starts at zero")
    }

    /// The fingerprint of a table is its plan's, whatever counters it carries.
    @Test func countersAreNotPartOfThePlan() throws {
        let config = try Config.parse(Self.two)
        let plan = try Plan(guests: Resolver.resolve(config: config, running: [], all: true).guests, settings: config.settings)
        let renderer = NftRenderer()
        let plain = renderer.render(plan)
        let endpoints = Counted.endpoints(plan.entries).map(\.endpoint)
        #expect(endpoints.count == 3)
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<50 {
            let counters = Dictionary(uniqueKeysWithValues: endpoints.filter { _ in Bool.random(using: &rng) }.map {
                ($0, Counts(packets: UInt64.random(in: 0...UInt64.max, using: &rng), bytes: UInt64.random(in: 0...UInt64.max, using: &rng)))
            })
            let carried = renderer.render(plan, counters: counters)
            #expect(carried.contains(" counter packets ") == !counters.isEmpty)
            let read = try NftScript.table(carried)
            #expect(read.drift(from: try NftScript.table(plain)) == [])
            #expect(read.counters == counters, "every counter carried, as typed values")
            #expect(carried.contains(renderer.fingerprint(plan).comment), "\(counters)")
        }
    }
}

extension CounterTests {
    /// nft 1.0's JSON prints a counter of 2^63 or more as a negative number: read back as the
    /// same 64 bits, not as zero (which a swap would then carry).
    @Test func countersPastTwoToTheSixtyThirdAreReadWhole() throws {
        let json = """
            {"nftables": [{"set": {"family": "inet", "name": "count4", "table": "libvirt_portfwd",
              "type": ["ipv4_addr", "inet_proto", "inet_service"], "stmt": [{"counter": null}], "elem": [
              {"elem": {"val": {"concat": ["192.168.122.10", "tcp", 80]}, "counter": {"packets": -1, "bytes": -9223372036854775808}}}]}}]}
            """
        let counters = try NftJSON.counters(json)
        #expect(counters[Endpoint(address: IPAddress("192.168.122.10")!, proto: .tcp, ports: PortRange(80, 80)!)]
                == Counts(packets: UInt64.max, bytes: 1 << 63))
    }
}
