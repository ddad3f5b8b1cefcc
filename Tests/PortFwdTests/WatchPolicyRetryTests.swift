import Testing
import PortFwd

/// A failed check (libnftables or virsh failing for a moment) is retried with no event needed,
/// each wait twice the last up to the cap, and the first check that works resets the wait.
extension WatchPolicyTests {
    /// The times between checks, from the simulation's record.
    static func gaps(_ checks: [(at: Double, reasons: [String])]) -> [Double] {
        zip(checks, checks.dropFirst()).map { $1.at - $0.at }
    }

    @Test func successiveFailuresLengthenTheWaitUpToTheCap() {
        var sim = Simulation()
        sim.world = { _, _ in .failed }
        sim.run(until: 300, events: [(1, .firewall("nft"))])
        let timing = WatchPolicy.Timing()
        let gaps = Self.gaps(sim.checks)
        // Between a failure and its retry: the check itself, the wait, and the debounce any
        // check owed takes.
        let overhead = sim.checkCost + timing.debounce
        // 1, 2, 4, 8, 16, then 30 each: a dozen checks in five minutes, not one per event or per second.
        #expect(sim.checks.count >= 10 && sim.checks.count <= 15, "\(sim.checks.map(\.at))")
        #expect(abs(gaps[0] - timing.retryFirst - overhead) < 0.01, "first retry after \(gaps[0]) s")
        for (a, b) in zip(gaps, gaps.dropFirst()) { #expect(b >= a - 1e-9, "the wait never shrinks while checks fail: \(gaps)") }
        #expect(gaps.max()! <= timing.retryLongest + overhead + 1e-9, "\(gaps)")
        #expect(gaps.suffix(3).allSatisfy { abs($0 - timing.retryLongest - overhead) < 0.01 }, "capped: \(gaps)")
        #expect(sim.checks.dropFirst().allSatisfy { $0.reasons == ["retry after a failed check"] })
        #expect(sim.policy.failures == sim.checks.count)
        #expect(sim.lines.isEmpty, "a failure is said by the watcher, with the error: \(sim.lines)")
    }

    @Test func aSuccessResetsTheWait() {
        var sim = Simulation()
        // Fails for a while, works, then fails again.
        sim.world = { t, _ in t < 20 || (t > 100 && t < 110) ? .failed : .steady }
        sim.run(until: 200, events: [(1, .firewall("nft")), (101, .firewall("nft"))])
        #expect(sim.policy.failures == 0)
        #expect(sim.policy.retryAt == nil)
        #expect(sim.lines.filter { $0.hasPrefix("checks work again after") }.count == 2, "\(sim.lines)")
        // The second spell starts again from the first wait, not where the first spell left off.
        let second = sim.checks.filter { $0.at > 100 }
        #expect(second.count >= 2)
        let first = Self.gaps(second)[0], timing = WatchPolicy.Timing()
        #expect(abs(first - timing.retryFirst - sim.checkCost - timing.debounce) < 0.01, "\(second.map(\.at))")
        // And nothing more once checks work: no retry of a success.
        #expect(!sim.checks.contains { $0.at > 130 }, "\(sim.checks.map(\.at))")
    }

    /// A firewall change every 50 ms while every check fails: the checks follow the back-off,
    /// never the events.
    @Test func aFailureNeverMakesATightLoop() {
        var sim = Simulation()
        sim.world = { _, _ in .failed }
        sim.run(until: 120, events: Self.every(0.05, from: 1, to: 120, .firewall("nft")) + Self.every(0.25, from: 1, to: 120,
            .guests("a DHCP lease")))
        #expect(sim.checks.count <= 10, "\(sim.checks.count) checks in two minutes: \(sim.checks.map(\.at))")
        for gap in Self.gaps(sim.checks) { #expect(gap >= WatchPolicy.Timing().retryFirst, "\(gap)") }
    }

    /// An event during the back-off is not lost: its check is the retry, with its reason, and
    /// it comes no earlier.
    @Test func anEventDuringTheBackOffIsCheckedAtTheRetry() {
        var sim = Simulation()
        sim.world = { t, _ in t < 5 ? .failed : .steady }
        // Fails at about 1.2, 2.4 and 4.6; the retry after that is due at 8.6.
        sim.run(until: 6, events: [(1, .firewall("nft"))])
        let retry = sim.policy.retryAt!
        #expect(retry > 6)
        sim.run(until: 20, events: [(6.5, .guests("a guest starting or stopping"))])
        let after = sim.checks.filter { $0.at > 6 }
        #expect(after.count == 1, "one check for the event and the retry: \(after.map(\.at))")
        #expect(abs(after[0].at - retry) < 1e-9)
        #expect(Set(after[0].reasons) == ["a guest starting or stopping", "retry after a failed check"])
        #expect(!sim.policy.lastCheckFilesOnly, "a retry checks the kernel too, not only libvirt's files")
        #expect(sim.lines.contains { $0.hasPrefix("checks work again after 3 failed attempts") }, "\(sim.lines)")
    }
}
