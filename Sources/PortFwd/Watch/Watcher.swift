import Foundation
import PortFwdCore
import PortFwdSystem

/// `libvirt-portfwd watch`: keeps the kernel's rules equal to the plan between libvirt's
/// events. It sleeps in one poll(2) on three sources and wakes only when one speaks:
///   - netfilter's change notifications: a commit by another process that touched a table
///     our forwards depend on (`nft flush ruleset`, firewalld's reload, libvirt re-creating
///     its chains, someone deleting our rule). Its own commits are recognised by PID;
///   - inotify on libvirt's lease files (a pending guest got its address, or a guest moved)
///     and on its running domains' status files (a guest started or stopped without a hook);
///   - SIGHUP (apply the config file; the unit's reload runs `apply` instead), SIGTERM and SIGINT (stop).
/// Where iptables-legacy tables are loaded, which announce nothing, it also checks every
/// `legacyInterval`. A burst of events is debounced, then one check compares the kernel with
/// the plan and the records with libvirt, and repairs once if they differ.
public final class Watcher {
    public struct Timing: Sendable {
        /// Quiet time after the last event before checking, and the longest wait after the first.
        public var debounce: TimeInterval = 0.2
        public var longestDelay: TimeInterval = 1
        public var legacyInterval: TimeInterval = 10
        public init() {}
    }

    /// A reconciler on the config file (`fromFile`), or on the config as it last applied, which
    /// is what repairs go back to: an edit to the file applies on `apply` or reload only.
    public typealias Reconcilers = (_ fromFile: Bool) throws(PortFwdError) -> Reconciler

    let reconcilers: Reconcilers
    let libvirt: LibvirtFiles
    let log: Log
    let timing: Timing
    let procNet: String
    var limiter = HealLimiter()
    private let netfilter: NetfilterEvents
    private let directories: DirectoryEvents
    private let signals: SignalEvents
    /// Repairs so far, for tests and STATUS.
    public private(set) var repairs = 0

    public init(reconcilers: @escaping Reconcilers, libvirt: LibvirtFiles, log: Log, timing: Timing = Timing(),
                procNet: String = "/proc/net") throws(PortFwdError) {
        self.reconcilers = reconcilers
        self.libvirt = libvirt
        self.log = log
        self.timing = timing
        self.procNet = procNet
        signals = try SignalEvents()
        netfilter = try NetfilterEvents()
        directories = try DirectoryEvents()
    }

    /// Runs until SIGTERM or SIGINT; returns the exit status.
    public func run() -> Int32 {
        apply("start")
        SystemdNotify.send("READY=1\nSTATUS=watching")
        // `guests`: libvirt's side changed (a lease, a guest starting or stopping). Following it
        // is the service's job, so it never waits for a backoff meant for another program.
        var dirty: (first: Date, last: Date, reasons: [String], guests: Bool)?
        var nextLegacy: Date?
        while true {
            directories.watch(libvirt.paths.leaseDirectory)
            directories.watch(libvirt.paths.runningDomainDirectory)
            var now = Date()
            if legacyTablesLoaded() { nextLegacy = nextLegacy ?? now.addingTimeInterval(timing.legacyInterval) } else { nextLegacy = nil }
            var deadline: Date?
            if let d = dirty {
                let settled = min(d.first.addingTimeInterval(timing.longestDelay), d.last.addingTimeInterval(timing.debounce))
                deadline = d.guests ? settled : max(settled, limiter.notBefore ?? settled)
            }
            if let n = nextLegacy { deadline = min(deadline ?? n, n) }
            let timeout = deadline.map { Int32(max(0, ceil($0.timeIntervalSince(now) * 1000))) } ?? -1
            var fds = [netfilter.fd, directories.fd, signals.fd].map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            if poll(&fds, nfds_t(fds.count), timeout) < 0 && errno != EINTR {
                log.error("watch: poll: \(String(cString: strerror(errno)))")
                return 1
            }
            for signal in signals.drain() {
                if signal == SIGHUP {
                    apply("reload")
                } else {
                    SystemdNotify.send("STOPPING=1")
                    log.info("watch: stopping after \(repairs) repair\(repairs == 1 ? "" : "s")")
                    return 0
                }
            }
            var reasons: [String] = []
            var guests = false
            let (commits, overrun) = netfilter.drain()
            for commit in commits where commit.relevant && commit.pid != getpid() {
                reasons.append("a firewall change by \(commit.process) (pid \(commit.pid))")
            }
            if overrun { reasons.append("firewall changes too many to follow") }
            for directory in directories.drain() {
                reasons.append(directory == libvirt.paths.leaseDirectory ? "a DHCP lease" : "a guest starting or stopping")
                guests = true
            }
            now = Date()
            if !reasons.isEmpty {
                let merged = (dirty?.reasons ?? []) + reasons.filter { !(dirty?.reasons ?? []).contains($0) }
                dirty = (dirty?.first ?? now, now, Array(merged.prefix(5)), guests || dirty?.guests == true)
            }
            if let d = dirty, now >= min(d.first.addingTimeInterval(timing.longestDelay), d.last.addingTimeInterval(timing.debounce)),
               d.guests || limiter.mayHeal(at: now) {
                dirty = nil
                check(after: d.reasons)
            } else if let n = nextLegacy, now >= n {
                nextLegacy = now.addingTimeInterval(timing.legacyInterval)
                if limiter.mayHeal(at: now) { check(after: ["the iptables-legacy timer"]) }
            }
        }
    }

    /// What `apply` does, from the config file: at start and on reload.
    func apply(_ why: String) {
        let started = Date()
        do {
            let reconciler = try reconcilers(true)
            var change = Change.reapply
            change.syncWithLibvirt = true
            let outcome = try reconciler.reconcile(change)
            log.warnings(outcome.warnings.map(\.message), prefix: "watch \(why): ")
            log.info("watch \(why): \(outcome.plan.forwardCount) forwards of \(outcome.plan.guests.count) guests installed"
                + (outcome.pending.isEmpty ? "" : ", \(outcome.pending.count) pending") + ", \(milliseconds(since: started)) ms")
        } catch {
            log.error("watch \(why): \(error.oneLine)")
        }
    }

    /// Compares the kernel with the plan and the records with libvirt; repairs once if either
    /// differs.
    func check(after reasons: [String]) {
        let started = Date()
        do {
            let reconciler = try reconcilers(false)
            guard reconciler.recordedMode != .off else { return }
            var change = Change.reapply
            change.syncWithLibvirt = true
            change.dryRun = true
            let preview = try reconciler.reconcile(change)
            let drift = try reconciler.drift(from: preview.plan)
            let guests = preview.adopted.map { "adopting guest \($0)" } + preview.dropped.map { "dropping the record of guest \($0)" }
                + preview.changed.map { "guest \($0) changed address or metadata" }
            guard !drift.isEmpty || !guests.isEmpty else { limiter.steady(); return }
            change.dryRun = false
            let outcome = try reconciler.reconcile(change)
            repairs += 1
            log.warnings(outcome.warnings.map(\.message), prefix: "watch: ")
            log.info("watch: repaired after \(reasons.joined(separator: ", ")): \((drift + guests).prefix(4).joined(separator: "; ")); "
                + "\(outcome.plan.forwardCount) forwards installed, \(milliseconds(since: started)) ms")
            SystemdNotify.send("STATUS=watching; \(repairs) repair\(repairs == 1 ? "" : "s") so far")
            // Only rules undone by someone else count towards the backoff: following leases and
            // guests is the service's job, however often it comes. When a guest changed, the
            // kernel differs from the new plan because of that change (it still holds the old
            // one), so only a difference with nothing on libvirt's side to explain it counts.
            if !drift.isEmpty, guests.isEmpty, let throttle = limiter.healed(at: Date()) { log.warning("watch: \(throttle)") }
        } catch {
            log.error("watch: check after \(reasons.joined(separator: ", ")): \(error.oneLine)")
        }
    }

    /// iptables-legacy announces nothing: where its tables are loaded, a timer stands in.
    func legacyTablesLoaded() -> Bool {
        ["ip_tables_names", "ip6_tables_names"].contains { name in
            !((try? String(contentsOfFile: "\(procNet)/\(name)", encoding: .utf8)) ?? "").isEmpty
        }
    }

    private func milliseconds(since start: Date) -> Int { Int(Date().timeIntervalSince(start) * 1000) }
}
