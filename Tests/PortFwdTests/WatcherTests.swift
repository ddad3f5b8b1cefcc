import Foundation
import Testing
@testable import PortFwd
import PortFwdCore

/// The service's check, built in a test: fake event sources and clock, the fake kernel, a
/// libvirt tree. What a check calls steady, a follow-up or a repair, and what it installs.
@Suite struct WatcherCheckTests {
    let host = FakeHost()
    let events = FakeWatchSources()
    let clock = FakeClock()
    let config = Fixtures.web1Discovered + "[[guest]]\nname = \"db\"\naddress = \"192.168.122.20\"\nforwards = [\"5432\"]\n"

    func watcher(timing: WatchPolicy.Timing = WatchPolicy.Timing(), clock: FakeClock? = nil) throws -> Watcher {
        let reconciler = try host.reconciler(config)
        host.tree.write("run/libvirt/qemu/.keep", "")
        return try Watcher(reconcilers: { _ in (reconciler, nil) }, libvirt: host.libvirt, log: host.log, timing: timing,
                           sources: events.sources(clock: clock ?? self.clock))
    }

    /// libvirt's status file of web1 running: the static host gives it 192.168.122.10.
    func web1Runs() {
        let domain = String(decoding: Fixtures.domain(), as: UTF8.self)
        host.tree.write("run/libvirt/qemu/web1.xml", "<domstatus state='running' reason='booted' pid='4242'>\n\(domain)\n</domstatus>\n")
    }

    var dnat: [String] { host.nft.elements("dnat4_any") }
    var repairLines: [String] { host.log.infos.filter { $0.contains("watch: repaired after") } }

    /// Another program's change, as `nft delete table` by hand.
    func tamper() throws {
        try host.nft.commit(.delete(.table(.ours)))
    }

    @Test func aCheckThatFindsNothingInstallsNothing() throws {
        web1Runs()
        let watcher = try watcher()
        watcher.apply("start")
        #expect(dnat == ["tcp . 8080 : 192.168.122.10 . 80"])
        let before = host.nft.mutationCount
        watcher.check(after: ["a firewall change by nft (pid 4242)"])
        #expect(host.nft.mutationCount == before)
        #expect(watcher.repairs == 0 && repairLines.isEmpty)
    }

    @Test func anotherProgramsChangeIsRepairedAndCounted() throws {
        web1Runs()
        let watcher = try watcher()
        watcher.apply("start")
        try tamper()
        #expect(dnat.isEmpty)
        watcher.check(after: ["a firewall change by nft (pid 4242)"])
        #expect(dnat == ["tcp . 8080 : 192.168.122.10 . 80"])
        #expect(watcher.repairs == 1)
        #expect(repairLines.count == 1 && repairLines[0].contains("is missing"))
        #expect(host.store.serviceRepairs == 1)
    }

    /// A guest libvirt runs that has no record (started without a hook): followed, not a repair.
    @Test func aGuestStartingIsAFollowUp() throws {
        let watcher = try watcher()
        watcher.apply("start")
        #expect(dnat.isEmpty)
        web1Runs()
        watcher.check(after: ["a guest starting or stopping"])
        #expect(dnat == ["tcp . 8080 : 192.168.122.10 . 80"])
        #expect(watcher.repairs == 0 && repairLines.isEmpty)
        #expect(host.log.infos.contains { $0.contains("guest web1 adopted") })
    }

    /// The same start, when another program had also removed our table: a repair, whatever else happened.
    @Test func aFollowUpOverAnotherProgramsChangeIsARepair() throws {
        let watcher = try watcher()
        watcher.apply("start")
        try tamper()
        web1Runs()
        watcher.check(after: ["a guest starting or stopping", "a firewall change by nft (pid 4242)"])
        #expect(dnat == ["tcp . 8080 : 192.168.122.10 . 80"])
        #expect(watcher.repairs == 1)
    }

    /// A hook installed a plan the service never saw (its `held` plan is stale) while a guest
    /// started without one: the kernel held a plan of ours from before the change, a follow-up.
    @Test func aPlanAHookInstalledMeanwhileIsNoRepair() throws {
        let watcher = try watcher()
        watcher.apply("start")
        let db = RunningGuest(uuid: try DomainUUID("22222222-2222-2222-2222-222222222222"), name: try GuestName("db"),
                              address4: try IPAddress("192.168.122.20"), since: Int64(Date().timeIntervalSince1970))
        _ = try host.reconciler(config).reconcile(.start(db))
        #expect(dnat == ["tcp . 5432 : 192.168.122.20 . 5432"])
        web1Runs()
        watcher.check(after: ["a guest starting or stopping", "a firewall change by libvirt-portfwd (pid 4243)"])
        #expect(dnat == ["tcp . 5432 : 192.168.122.20 . 5432", "tcp . 8080 : 192.168.122.10 . 80"])
        #expect(watcher.repairs == 0 && repairLines.isEmpty)
    }

    /// A check that fails leaves the kernel and the records as they were, says so once with the
    /// time of the next try, and the policy retries it without another event.
    @Test func aFailedCheckIsRetriedWithoutAnEvent() throws {
        web1Runs()
        let watcher = try watcher()
        watcher.apply("start")
        try tamper()
        let records = host.dump
        host.nft.failMutation = host.nft.mutationCount
        watcher.check(after: ["a firewall change by nft (pid 4242)"])
        #expect(host.dump == records)
        #expect(host.log.errors.count == 1 && host.log.errors[0].contains("attempt 1 failed, next try in 1.0 s"))
        let retry = try #require(watcher.policy.retryAt)
        #expect(watcher.policy.next(at: clock.now) == .sleep(until: retry))
        clock.advance(retry - clock.now)
        // The retry is debounced like any event.
        var action = watcher.policy.next(at: clock.now)
        if case .sleep(let until?) = action {
            clock.advance(until - clock.now)
            action = watcher.policy.next(at: clock.now)
        }
        guard case .check = action else {
            Issue.record("no retry at \(retry)")
            return
        }
        watcher.check(after: ["a retry"])
        #expect(dnat == ["tcp . 8080 : 192.168.122.10 . 80"] && watcher.repairs == 1)
        #expect(watcher.policy.retryAt == nil)
    }

    /// Flushed (`off`): the service looks at nothing and installs nothing, whatever happens.
    @Test func offChecksNothing() throws {
        web1Runs()
        let watcher = try watcher()
        watcher.apply("start")
        _ = try host.reconciler(config).reconcile(.flushAll)
        let before = host.nft.mutationCount
        watcher.check(after: ["a firewall change by nft (pid 4242)"])
        #expect(host.nft.mutationCount == before && dnat.isEmpty && watcher.repairs == 0)
    }
}

/// The whole service loop in-process: its poll(2) on the fake sources' descriptors, its policy
/// on the host's clock with short timings, stopped by a signal.
@Suite struct WatcherLoopTests {
    @Test func theLoopRepairsFollowsReloadsAndStops() throws {
        let host = FakeHost()
        let events = FakeWatchSources()
        host.tree.write("run/libvirt/qemu/.keep", "")
        let reconciler = try host.reconciler(Fixtures.web1Discovered)
        var timing = WatchPolicy.Timing()
        timing.debounce = 0.01
        timing.longestDelay = 0.05
        let watcher = try Watcher(reconcilers: { _ in (reconciler, nil) }, libvirt: host.libvirt, log: host.log, timing: timing,
                                  sources: events.sources())
        let finished = Box<Int32>()
        // Only the loop's thread calls the service; the test reads the log and the fake kernel.
        let service = Box<Watcher>()
        service.value = watcher
        let thread = Thread { finished.value = service.value?.run() }
        thread.start()
        try waitFor("the service to start") { host.log.infos.contains { $0.hasPrefix("watch start: ") } }
        #expect(events.directories.watched == [host.libvirt.paths.leaseDirectory, host.libvirt.paths.runningDomainDirectory])

        let domain = String(decoding: Fixtures.domain(), as: UTF8.self)
        host.tree.write("run/libvirt/qemu/web1.xml", "<domstatus state='running' reason='booted' pid='4242'>\n\(domain)\n</domstatus>\n")
        events.directories.post(host.libvirt.paths.runningDomainDirectory)
        try waitFor("web1 to be followed") { host.nft.elements("dnat4_any") == ["tcp . 8080 : 192.168.122.10 . 80"] }

        try host.nft.commit(.delete(.table(.ours)))
        events.firewall.commit()
        try waitFor("the repair") { host.log.infos.contains { $0.contains("watch: repaired after a firewall change by nft (pid 4242)") } }
        #expect(host.nft.elements("dnat4_any") == ["tcp . 8080 : 192.168.122.10 . 80"])

        events.signals.post(SIGHUP)
        try waitFor("the reload") { host.log.infos.contains { $0.hasPrefix("watch reload: ") } }
        events.signals.post(SIGTERM)
        try waitFor("the loop to end") { finished.value != nil }
        #expect(finished.value == 0)
        #expect(watcher.repairs == 1)
        #expect(host.log.infos.last?.contains("stopping after 1 repair of other programs' changes") == true)
    }
}
