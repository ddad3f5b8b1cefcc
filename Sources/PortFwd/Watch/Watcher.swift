import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif
import PortFwdCore
import PortFwdSystem

/// `libvirt-portfwd watch`: keeps the kernel's rules equal to the plan between libvirt's
/// events. It sleeps in one poll(2) on three sources and wakes only when one speaks:
///   - netfilter's change notifications: a commit by another process that touched a table
///     our forwards depend on (`nft flush ruleset`, firewalld's reload, libvirt re-creating
///     its chains, someone deleting our rule). Its own commits are recognised by PID;
///   - inotify on libvirt's lease files (a pending guest got its address, or a guest moved)
///     and on its running domains' status files (a guest started or stopped without a hook),
///     picked up when those directories appear later;
///   - the host's neighbour tables, for the addresses pending guests claim: a guest's own
///     metadata address counts once the host has seen it in use (`Resolver`);
///   - SIGHUP (apply the config file; the unit's reload runs `apply` instead), SIGTERM and SIGINT (stop).
/// When to check, and how often another program's changes are repaired, is `WatchPolicy`'s
/// decision; this class only feeds it events and check results, and does what it says.
public final class Watcher {
    /// A reconciler on the config file (`fromFile`), or on the config as it last applied, which
    /// is what repairs go back to: an edit to the file applies on `apply` or reload only.
    /// `problem`: the config file did not read, and the reconciler is on the config as it last
    /// applied (or none): the service goes on, as the hooks do, and logs it.
    public typealias Reconcilers = (_ fromFile: Bool) throws(PortFwdError) -> (Reconciler, problem: String?)

    let reconcilers: Reconcilers
    let libvirt: LibvirtFiles
    let log: Log
    var policy: WatchPolicy
    /// The events, and the clock. Without neighbour events, pending metadata addresses are
    /// picked up at the next check.
    let sources: WatchSources
    /// One guest's lease moves, bounded.
    let followLimit: FollowLimit
    /// The plan last seen installed: a check that finds the kernel holding it after a guest
    /// changed is a follow-up, judged without planning the records as they were.
    private var held: Plan?
    /// Addresses that pending guests claim: a neighbour entry for one is worth a check.
    private(set) var awaited: Set<IPAddress> = []
    /// The MACs of pending guests: a sighting of any of them may settle a lease dispute.
    private(set) var awaitedMACs: Set<MAC> = []
    /// The new lease addresses held addresses wait on as of the last check, and how long the
    /// service waits before it asks again (see `recheck`).
    private var unseen: Set<IPAddress> = []
    private var unseenWait = 0.0
    /// Repairs of other programs' changes so far, for STATUS.
    public private(set) var repairs = 0
    /// Writes the status for readers without root and the Prometheus textfile.
    let publisher: Publisher?

    /// `sources`: the host's own (`WatchSources.system`) unless a test brings fakes.
    public init(reconcilers: @escaping Reconcilers, libvirt: LibvirtFiles, log: Log, timing: WatchPolicy.Timing = WatchPolicy.Timing(),
                publisher: Publisher? = nil, sources: WatchSources? = nil) throws(PortFwdError) {
        self.reconcilers = reconcilers
        self.publisher = publisher
        self.libvirt = libvirt
        self.log = log
        policy = WatchPolicy(timing: timing)
        let chosen: WatchSources
        if let sources { chosen = sources } else { chosen = try WatchSources.system(procNet: libvirt.paths.procNet) }
        self.sources = chosen
        followLimit = FollowLimit(clock: chosen.clock)
    }

    /// Seconds on the sources' monotonic clock.
    func now() -> Double { sources.clock() }

    /// Runs until SIGTERM or SIGINT; returns the exit status.
    public func run() -> Int32 {
        let leases = libvirt.paths.leaseDirectory, domains = libvirt.paths.runningDomainDirectory
        sources.directories.watch(leases)
        sources.directories.watch(domains)
        apply("start")
        SystemdNotify.send("READY=1\nSTATUS=watching")
        // Whether work was done since the last sleep (the start's apply, a check, a reload).
        var worked = true
        while true {
            var now = self.now()
            policy.legacyTables(loaded: sources.legacyTablesLoaded(), at: now)
            let action = policy.next(at: now)
            if case .check(let reasons) = action {
                check(after: reasons)
                worked = true
                continue
            }
            guard case .sleep(var until) = action else { continue }
            // About to sleep after work: what the burst freed goes back to the kernel.
            if worked {
                Heap.release()
                worked = false
            }
            if let due = publisher?.due() { until = min(until ?? due, due) }
            let timeout = until.map { Int32(min(Double(Int32.max), max(0, ceil(($0 - now) * 1000)))) } ?? -1
            // The neighbour tables change all the time on a busy host: listened to only while a
            // pending guest waits to be seen, so an idle service stays asleep.
            let listening = awaited.isEmpty && awaitedMACs.isEmpty ? -1 : sources.neighbours?.fd ?? -1
            var fds = [sources.firewall.fd, sources.directories.fd, sources.signals.fd, listening]
                .map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            // Not retried on EINTR: an interruption is a signal, and the loop goes to read it.
            if poll(&fds, nfds_t(fds.count), timeout) < 0 && errno != EINTR {
                log.error("watch: poll: \(SystemCall.reason())")
                return 1
            }
            for signal in sources.signals.drain() {
                if signal == SIGHUP {
                    apply("reload")
                    worked = true
                } else {
                    SystemdNotify.send("STOPPING=1")
                    log.info("watch: stopping after \(repairs) repair\(repairs == 1 ? "" : "s") of other programs' changes")
                    return 0
                }
            }
            now = self.now()
            let (commits, overrun, _) = sources.firewall.drain()
            for commit in commits where commit.relevant && commit.pid != getpid() {
                policy.note(.firewall("a firewall change by \(commit.process) (pid \(commit.pid))"), at: now)
            }
            if overrun { policy.note(.firewall("firewall changes too many to follow"), at: now) }
            for directory in sources.directories.drain() {
                policy.note(.guests(directory == leases ? "a DHCP lease" : "a guest starting or stopping"), at: now)
            }
            if !(awaited.isEmpty && awaitedMACs.isEmpty), let (entries, overrun) = sources.neighbours?.drain(),
               overrun || entries.contains(where: { awaited.contains($0.address) || awaitedMACs.contains($0.mac) }) {
                policy.note(.sighting("a guest seen at the address it claims"), at: now)
            }
            if let due = publisher?.due(), now >= due { publish(plan: nil, force: true) }
        }
    }

    /// What the service waits for after an outcome: the addresses pending guests claim and the
    /// new lease addresses held addresses wait on, and a lease move held back by its guest's bound.
    func expect(after outcome: Outcome) {
        awaited = Set(outcome.pending.flatMap { p in
            [p.guest.address4, p.guest.address6, p.guest.metadata.address4, p.guest.metadata.address6].compactMap { $0 }
        }).union(outcome.unseenMoves)
        unseen = outcome.unseenMoves
        // A pending guest in a lease dispute claims no address: the one it is seen using, at
        // its own MAC, settles it.
        awaitedMACs = Set(outcome.pending.flatMap { $0.guest.interfaces.map(\.mac) })
        if outcome.followDeferred, let at = followLimit.next() { policy.remind(at: at, "a DHCP lease held back by its guest's bound") }
    }

    /// A lease move whose guest has not answered at its new address yet is looked at again
    /// after 1, 2, 4 … 30 s, for as long as it waits: the guest may not have taken the address
    /// yet when dnsmasq's answer wrote the lease and the neighbour entry, and its taking it may
    /// change nothing the service hears. (A forged move waits so until its lease ends.)
    func recheck() {
        guard !unseen.isEmpty else {
            unseenWait = 0
            return
        }
        unseenWait = unseenWait == 0 ? 1 : min(unseenWait * 2, 30)
        policy.remind(at: now() + unseenWait, "a lease move its guest has not answered for yet")
    }

    /// What `apply` does, from the config file: at start and on reload.
    func apply(_ why: String) {
        let started = now()
        do {
            let (reconciler, problem) = try reconcilers(true)
            if let problem { log.error("watch \(why): \(problem)") }
            if why == "start" { try? reconciler.store.saveServiceRepairs(0) }
            let outcome = try reconciler.reconcile(.sync)
            expect(after: outcome)
            held = outcome.plan
            recheck()
            log.warnings(outcome.warnings.map(\.message), prefix: "watch \(why): ")
            log.info("watch \(why): \(outcome.plan.forwardCount) forwards of \(outcome.plan.guests.count) guests installed"
                + (outcome.pending.isEmpty ? "" : ", \(outcome.pending.count) pending") + ", \(milliseconds(since: started)) ms")
        } catch {
            log.error("watch \(why): \(error.oneLine)")
        }
        publish(plan: nil, force: true)
    }

    /// The status, for readers without root and Prometheus: when the plan or the mode changed
    /// since the last time, or the publisher's interval passed (or `force`).
    func publish(plan: Plan?, force: Bool = false) {
        guard let publisher else { return }
        do {
            let (reconciler, _) = try reconcilers(false)
            if let line = publisher.publish(reconciler, plan: plan, mode: reconciler.recordedMode, at: now(), force: force) {
                log.warning("watch: \(line)")
            }
        } catch {
            if let line = publisher.failed("cannot read the config to publish the status: \(error.oneLine)") { log.warning("watch: \(line)") }
        }
    }

    /// Compares the kernel with the plan and the records with libvirt; installs once if either
    /// differs, and tells the policy what it was: nothing, a routine follow-up of libvirt, or a
    /// repair of another program's change.
    func check(after reasons: [String]) {
        let started = now()
        unseen = []
        defer { recheck() }
        let result: WatchPolicy.CheckResult
        var checked: Plan?
        var failure: String?
        do {
            // A config that does not read was logged at start or reload.
            let (reconciler, _) = try reconcilers(false)
            guard reconciler.recordedMode != .off else { publish(plan: nil); return }
            // A lease or status file changed, and nothing else: when no guest moved (or a move
            // waits for its guest's bound), nothing needs planning. A guest's churning lease
            // costs a read of the files, not a plan and a listing of the kernel.
            var limit: FollowLimit? = followLimit
            if policy.lastCheckFilesOnly {
                // A move is charged to its guest when seen here, whether or not the plan below
                // still finds it (a lease that flips back meanwhile): the guest's bound is on
                // the work its churn causes.
                let (moved, deferred, waiting) = reconciler.libvirtMoved(limit: followLimit, consume: true)
                awaited.formUnion(waiting)
                unseen = waiting
                if deferred, let at = followLimit.next() { policy.remind(at: at, "a DHCP lease held back by its guest's bound") }
                // Nothing learnt of the firewall either way: the policy hears no result.
                if !moved { return }
                limit = nil
            }
            let repair = try reconciler.repair(limit: limit, held: held)
            let outcome = repair.outcome
            expect(after: outcome)
            switch repair.verdict {
            case .off:
                publish(plan: nil)
                return
            case .steady:
                result = .steady
            case .followed, .repaired:
                log.warnings(outcome.warnings.map(\.message), prefix: "watch: ")
                for line in followed(outcome) { log.info("watch: \(line)") }
                result = repair.verdict == .followed ? .followed : .repaired
            }
            if case .repaired(let others) = repair.verdict {
                repairs += 1
                // For `status --prometheus`; a counter that cannot be written is no reason to stop.
                try? reconciler.store.saveServiceRepairs(UInt64(repairs))
                let what = LogText.capped(others.map(\.description), limit: 3).joined(separator: "; ")
                log.info("watch: repaired after \(reasons.joined(separator: ", ")): \(what); "
                    + "\(outcome.plan.forwardCount) forwards installed, \(milliseconds(since: started)) ms")
                SystemdNotify.send("STATUS=watching; \(repairs) repair\(repairs == 1 ? "" : "s") of other programs' changes so far")
            }
            held = outcome.plan
            checked = outcome.plan
        } catch {
            failure = error.oneLine
            result = .failed
        }
        let now = self.now()
        for line in policy.checked(result, at: now) { log.warning("watch: \(line)") }
        if let failure {
            // One line per failure, with the policy's answer: the retry comes without an event.
            let wait = WatchPolicy.seconds((policy.retryAt ?? now) - now)
            log.error("watch: check after \(reasons.joined(separator: ", ")): \(failure); attempt \(policy.failures) failed, next try in \(wait)")
        }
        publish(plan: checked, force: result == .followed || result == .repaired)
    }

    /// One line per guest that libvirt's side changed: `guest web1: lease 192.168.122.253, 3 forwards installed`.
    func followed(_ outcome: Outcome) -> [String] {
        var lines: [String] = []
        func describe(_ name: GuestName) -> String {
            if let guest = outcome.plan.guests.first(where: { $0.name == name }) {
                let source = outcome.records.first { $0.name == name }?.addressSource
                let address = Family.allCases.compactMap { guest.address($0)?.description }.joined(separator: ", ")
                return "\(source.map { $0 == .explicit ? "address" : $0.rawValue } ?? "address") \(address), "
                    + "\(guest.forwards.count) forwards installed"
            }
            if let pending = outcome.pending.first(where: { $0.guest.name == name }) {
                return "\(pending.forwards.count) forwards pending: \(pending.reason)"
            }
            return "no forwards"
        }
        lines += outcome.adopted.map { "guest \($0) adopted (running, no record): \(describe($0))" }
        lines += outcome.changed.map { "guest \($0): \(describe($0))" }
        lines += outcome.dropped.map { "guest \($0) no longer runs: its forwards removed" }
        return LogText.capped(lines)
    }

    private func milliseconds(since start: Double) -> Int { Int((now() - start) * 1000) }
}
