import Testing
import PortFwd
import PortFwdCore

/// The service's decisions against a fake clock: a simulation that feeds WatchPolicy events at
/// given times, does what it says (a check takes `checkCost` seconds and finds what the world
/// says), and records every check and every line.
@Suite struct WatchPolicyTests {
    struct Simulation {
        var policy = WatchPolicy()
        var now = 0.0
        var checks: [(at: Double, reasons: [String])] = []
        var lines: [String] = []
        /// What a check at a time finds.
        var world: (Double, [String]) -> WatchPolicy.CheckResult = { _, _ in .steady }
        var checkCost = 0.02

        /// Runs until `end`, with `events` (time, event) delivered as they come.
        mutating func run(until end: Double, events: [(Double, WatchPolicy.Event)]) {
            var queue = events.sorted { $0.0 < $1.0 }
            while now < end {
                switch policy.next(at: now) {
                case .check(let reasons):
                    checks.append((now, reasons))
                    now += checkCost
                    lines += policy.checked(world(now, reasons), at: now)
                case .sleep(let until):
                    let wake = min(until ?? end, queue.first?.0 ?? end, end)
                    now = max(now, wake)
                    while let first = queue.first, first.0 <= now {
                        policy.note(first.1, at: first.0)
                        queue.removeFirst()
                    }
                }
            }
        }
    }

    static func every(_ step: Double, from: Double, to: Double, _ event: WatchPolicy.Event) -> [(Double, WatchPolicy.Event)] {
        stride(from: from, to: to, by: step).map { ($0, event) }
    }

    @Test func aBurstIsOneCheckAfterItSettles() {
        var sim = Simulation()
        sim.run(until: 5, events: Self.every(0.002, from: 1, to: 1.1, .firewall("nft")))
        #expect(sim.checks.count == 1)
        #expect(sim.checks[0].at >= 1.1 + 0.2 - 0.003 && sim.checks[0].at <= 1.31, "\(sim.checks[0].at)")
    }

    @Test func aLongStreamIsCheckedAtLeastOnceASecond() {
        var sim = Simulation()
        sim.run(until: 10.5, events: Self.every(0.1, from: 0, to: 10, .guests("a DHCP lease")))
        // Never more than the longest delay after a burst's first event.
        #expect(sim.checks.count >= 9 && sim.checks.count <= 11, "\(sim.checks.count)")
        for (a, b) in zip(sim.checks, sim.checks.dropFirst()) { #expect(b.at - a.at <= 1.1 + 1e-9) }
    }

    @Test func simultaneousStartsAreOneCheck() {
        var sim = Simulation()
        sim.run(until: 3, events: [(1, .guests("a guest starting or stopping")), (1, .guests("a guest starting or stopping")),
            (1, .guests("a DHCP lease"))])
        #expect(sim.checks.count == 1)
        #expect(sim.checks[0].reasons == ["a guest starting or stopping", "a DHCP lease"])
    }

    /// A program that undoes the rules every 50 ms for 60 s: after the burst, at most one
    /// repair a second, one line when the fight starts, none per repair.
    @Test func aFightIsBoundedToOneRepairASecond() {
        var sim = Simulation()
        sim.world = { t, _ in t < 61 ? .repaired : .steady }
        sim.run(until: 61, events: Self.every(0.05, from: 1, to: 61, .firewall("a firewall change by nft (pid 7)")))
        let timing = WatchPolicy.Timing()
        #expect(sim.checks.count <= timing.burst + 60 + 1, "\(sim.checks.count) checks in 60 s")
        #expect(sim.checks.count >= 50, "the rules are still repaired, about once a second: \(sim.checks.count)")
        #expect(sim.lines.filter { $0.hasPrefix("another program keeps undoing the rules") }.count == 1, "\(sim.lines)")
        #expect(sim.policy.fighting)
    }

    /// A program that undoes the rules every 300 ms: each change settles on its own, so the
    /// debounce alone would repair three times a second; the bucket holds it to one.
    @Test func spacedChangesAreBoundedByTheBucketNotTheDebounce() {
        var sim = Simulation()
        sim.world = { _, _ in .repaired }
        sim.run(until: 61, events: Self.every(0.3, from: 1, to: 61, .firewall("a firewall change by iptables (pid 9)")))
        #expect(sim.checks.count <= WatchPolicy.Timing().burst + 60 + 1, "\(sim.checks.count) checks in 60 s")
        #expect(sim.lines.filter { $0.hasPrefix("another program keeps undoing the rules") }.count == 1)
    }

    /// Once the other program stops, its last change is repaired within the interval and the
    /// debounce, however long the fight was: no backoff grown to minutes.
    @Test func aCompetitorThatStopsIsRepairedWithinASecond() {
        for duration in [10.0, 300.0] {
            var sim = Simulation()
            let stop = 1 + duration
            sim.world = { t, _ in .repaired }
            sim.run(until: stop, events: Self.every(0.05, from: 1, to: stop, .firewall("nft")))
            let last = sim.checks.last!.at
            sim.world = { _, _ in .steady }
            // The competitor's last change lands just after our last repair.
            sim.run(until: stop + 10, events: [(last + 0.03, .firewall("nft"))])
            let repair = sim.checks.first { $0.at > last }!.at
            #expect(repair - (last + 0.03) <= 1.25, "after a \(Int(duration)) s fight: \(repair - last - 0.03) s")
        }
    }

    @Test func theEndOfAFightIsSaidOnce() {
        var sim = Simulation()
        sim.world = { t, _ in t < 20 ? .repaired : .steady }
        sim.run(until: 30, events: Self.every(0.05, from: 1, to: 20, .firewall("nft")) + [(25, .firewall("nft"))])
        #expect(sim.lines.filter { $0.hasPrefix("the rules held") }.count == 1, "\(sim.lines)")
        #expect(!sim.policy.fighting)
    }

    /// Leases keep changing during a fight: each is followed promptly, never held for the
    /// bucket, and a follow-up that found the other program's change counts against it, so the
    /// fight stays bounded and reported.
    @Test func leaseFlappingDuringAFightNeitherWaitsNorLiftsTheBound() {
        var sim = Simulation()
        // A follow-up during the fight finds the other program's change too: a repair.
        sim.world = { _, _ in .repaired }
        let leases = Self.every(0.5, from: 1.25, to: 41, .guests("a DHCP lease"))
        let rival = Self.every(0.05, from: 1, to: 41, .firewall("nft"))
        sim.run(until: 41, events: leases + rival)
        // Every lease is followed within the longest delay and one repair interval.
        for (t, _) in leases where t < 40 {
            #expect(sim.checks.contains { $0.at >= t && $0.at <= t + 2.05 }, "lease at \(t) not followed in time")
        }
        // Bounded: one a second for the rival and the leases together.
        #expect(sim.checks.count <= 40 + WatchPolicy.Timing().burst + 2, "\(sim.checks.count) checks")
        #expect(sim.lines.contains { $0.hasPrefix("another program keeps undoing the rules") })
        #expect(!sim.lines.contains { $0.hasPrefix("the rules held") }, "lease follow-ups do not end the fight: \(sim.lines)")
    }

    /// A guest whose lease changes four times a second during a fight: every check repairs,
    /// and the repairs stay within the bound the fight alone has (one a second, the burst, and
    /// one charged ahead), where they used to add one per lease.
    @Test func leaseChurnNeverLiftsTheRepairBound() {
        var sim = Simulation()
        sim.world = { _, _ in .repaired }
        let leases = Self.every(0.25, from: 0, to: 40, .guests("a DHCP lease"))
        let rival = Self.every(0.05, from: 0, to: 40, .firewall("nft"))
        sim.run(until: 40, events: leases + rival)
        let timing = WatchPolicy.Timing()
        let bound = Int(40 / timing.repairInterval) + timing.burst + 1
        #expect(sim.checks.count <= bound, "\(sim.checks.count) repairs in 40 s, bound \(bound)")
        #expect(sim.checks.count >= 30, "the fight is still repaired about once a second: \(sim.checks.count)")
    }

    @Test func followUpsAloneAreNoFight() {
        var sim = Simulation()
        sim.world = { _, _ in .followed }
        sim.run(until: 60, events: Self.every(0.3, from: 0, to: 60, .guests("a DHCP lease")))
        #expect(sim.lines.isEmpty)
        #expect(!sim.policy.fighting)
    }

    @Test func theLegacyTimerChecksOnlyWhileLegacyTablesAreLoaded() {
        var sim = Simulation()
        sim.run(until: 100, events: [])
        #expect(sim.checks.isEmpty, "idle: no check at all")
        sim.policy.legacyTables(loaded: true, at: sim.now)
        sim.run(until: 151, events: [])
        #expect(sim.checks.count == 5, "\(sim.checks.map(\.at))")
        #expect(sim.checks.allSatisfy { $0.reasons == ["the iptables-legacy timer"] })
        sim.policy.legacyTables(loaded: false, at: sim.now)
        let before = sim.checks.count
        sim.run(until: 200, events: [])
        #expect(sim.checks.count == before)
    }

    /// Netfilter dropped notifications (ENOBUFS): something changed; one check.
    @Test func anOverrunIsChecked() {
        var sim = Simulation()
        sim.run(until: 3, events: [(1, .firewall("firewall changes too many to follow"))])
        #expect(sim.checks.map(\.reasons) == [["firewall changes too many to follow"]])
    }
}

extension WatchPolicyTests {
    /// When the other program stops with no event after our last repair, a check after a
    /// quiet spell finds the rules held and says so, once; no more wake-ups after that.
    @Test func aQuietSpellAfterAFightIsCheckedOnce() {
        var sim = Simulation()
        sim.world = { t, _ in t < 30 ? .repaired : .steady }
        sim.run(until: 30, events: Self.every(0.05, from: 1, to: 29.9, .firewall("nft")))
        #expect(sim.policy.fighting)
        let before = sim.checks.count
        sim.run(until: 200, events: [])
        #expect(sim.checks.count == before + 1, "one confirming check: \(sim.checks.suffix(3).map(\.at))")
        #expect(sim.lines.contains { $0.hasPrefix("the rules held") })
        #expect(!sim.policy.fighting)
    }
}

/// One guest's lease moves, bounded on a fake clock: the burst at once, then one per interval;
/// a look that does not follow spends nothing; `next` says when the guest held back may move.
@Suite struct FollowLimitTests {
    final class Clock: @unchecked Sendable { var now = 100.0 }

    @Test func oneGuestsMovesAreBoundedAndOthersGoOn() throws {
        let clock = Clock()
        let limit = FollowLimit(clock: { clock.now })
        let timing = FollowLimit.Timing()
        let churner = try DomainUUID("00000000-0000-4000-8000-000000000001"), other = try DomainUUID("00000000-0000-4000-8000-000000000002")
        for _ in 0..<10 { #expect(limit.allow(churner, consume: false)) }
        for _ in 0..<Int(timing.burst) { #expect(limit.allow(churner, consume: true)) }
        #expect(!limit.allow(churner, consume: true))
        #expect(limit.allow(other, consume: true), "another guest is never held back by this one")
        #expect(limit.next() == 100 + timing.interval)
        clock.now += timing.interval / 2
        #expect(!limit.allow(churner, consume: true))
        clock.now += timing.interval / 2
        #expect(limit.allow(churner, consume: true))
        #expect(!limit.allow(churner, consume: true))
        clock.now += 10 * timing.interval
        #expect(limit.next() == nil)
    }
}
