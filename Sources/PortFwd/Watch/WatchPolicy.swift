/// The watch service's decisions, apart from its event sources and its clock: when to check,
/// how long to wait, and what to say about a fight. Pure: time is seconds on a monotonic clock,
/// given by the caller, so every decision is unit-tested with a fake clock.
///
/// Events are debounced: a burst settles `debounce` after its last event, and never later than
/// `longestDelay` after its first, into one check.
///
/// Repairs of another program's changes are rate-bounded like kube-proxy's
/// BoundedFrequencyRunner, not backed off: a bucket of `burst` repairs, refilled at one per
/// `repairInterval`. Why this and not a growing backoff:
/// - during a fight (a script in a loop, a second manager of the same chains) our cost is
///   bounded at one repair per interval, whatever the other program's rate;
/// - once the other program stops, its last change is repaired within one interval (plus the
///   debounce), not after a backoff that grew to minutes;
/// - there is no state to reset, so nothing (a lease, a guest starting) can cancel it.
///
/// Following libvirt (a lease, a guest starting or stopping) is the service's job and waits
/// for the bucket only while another program's fight has put it in debt. A check that followed
/// a guest and found another program's change besides is charged as a repair, into debt if it
/// must (one repair deep): lease changes during a fight never lift the bound on repairs,
/// however often they come, and delay a follow-up by one interval at most. (One guest's lease
/// churn is bounded apart, by `FollowLimit`.)
///
/// A check that fails (libnftables or virsh failing for a moment, a file half-written) is
/// retried without waiting for another event, after 1, 2, 4... seconds up to `retryLongest`,
/// as kube-proxy's runner retries a failed sync; the first check that works resets the wait.
/// Unlike a fight, this wait does grow: retrying sooner does not make a failing libnftables
/// work, and events that come meanwhile (a fight, a churning lease) wait for the retry, which
/// checks what they asked for too, so a failure never turns into a check per event.
public struct WatchPolicy: Sendable {
    public struct Timing: Sendable, Equatable {
        /// Quiet time after the last event before checking, and the longest wait after the first.
        public var debounce = 0.2
        public var longestDelay = 1.0
        /// Once `burst` repairs are spent, at most one per `repairInterval`.
        public var repairInterval = 1.0
        public var burst = 3
        /// Where iptables-legacy tables are loaded, which announce nothing: a check this often.
        public var legacyInterval = 10.0
        /// This many repairs of other programs' changes within a minute is a fight, said once.
        public var fightRepairs = 10
        /// At most one line about an ongoing fight per this many seconds.
        public var fightReport = 60.0
        /// In a fight, a check this long after the last repair, with no event needed, to see
        /// whether the other program stopped (and say so).
        public var fightConfirm = 5.0
        /// After a failed check, the first retry this long after it, each next one twice as
        /// long, never longer than `retryLongest`.
        public var retryFirst = 1.0
        public var retryLongest = 30.0
        public init() {}
    }

    public enum Event: Sendable, Equatable {
        /// Another process changed a table our forwards depend on (or netfilter dropped
        /// notifications: something changed).
        case firewall(String)
        /// libvirt's side: a lease, a guest starting or stopping.
        case guests(String)
        /// The host's neighbour table has an address a pending guest claims: libvirt's side,
        /// but nothing in its files changed.
        case sighting(String)
    }

    public enum CheckResult: Sendable, Equatable {
        /// The kernel matched the plan, and the records matched libvirt.
        case steady
        /// Guests changed, and the kernel held the plan from before: a routine follow-up.
        case followed
        /// Another program's change was undone.
        case repaired
        /// The check could not be done; said by the caller.
        case failed
    }

    public enum Action: Sendable, Equatable {
        case check(reasons: [String])
        /// Until this time, or (nil) until the next event.
        case sleep(until: Double?)
    }

    public let timing: Timing
    private var dirty: (first: Double, last: Double, reasons: [String], guests: Bool, files: Bool)?
    /// Whether the last check asked for was for libvirt's files alone (a lease, a status file):
    /// the watcher then looks at the records first, and plans only when a guest moved.
    public private(set) var lastCheckFilesOnly = false
    private var tokens: Double
    private var refilled: Double?
    private var nextLegacy: Double?
    private var repairs: [Double] = []
    /// When the fight going on, if one is, was first said.
    private var fightSince: Double?
    private var fightRepairs = 0
    private var lastReport: Double?
    /// The repair whose quiet spell was checked already.
    private var confirmed: Double?
    /// A check asked for at a time, with its reason: a guest's lease move held back.
    private var reminder: (at: Double, reason: String)?
    /// Whether the check asked for last was for libvirt's side: its retry is too.
    private var lastCheckGuests = false
    /// Checks failed in a row, and when the first of them failed.
    public private(set) var failures = 0
    private var failingSince: Double?
    /// When the failed check is tried again; until then no check is done, whatever comes.
    public private(set) var retryAt: Double?

    public init(timing: Timing = Timing()) {
        self.timing = timing
        tokens = Double(timing.burst)
    }

    /// Whether the service is holding back repairs now; the tests watch it.
    public var fighting: Bool { fightSince != nil }

    public mutating func note(_ event: Event, at now: Double) {
        switch event {
        case .firewall(let r): mark(r, guests: false, files: false, at: now)
        case .guests(let r): mark(r, guests: true, files: true, at: now)
        case .sighting(let r): mark(r, guests: true, files: false, at: now)
        }
    }

    /// A check is owed: for `reason`, of libvirt's side too (`guests`), or of its files alone.
    private mutating func mark(_ reason: String, guests: Bool, files: Bool, at now: Double) {
        if var d = dirty {
            d.last = now
            if !d.reasons.contains(reason) && d.reasons.count < 5 { d.reasons.append(reason) }
            d.guests = d.guests || guests
            d.files = d.files && files
            dirty = d
        } else {
            dirty = (now, now, [reason], guests, files)
        }
    }

    /// A check of libvirt's side at `time` (the earliest asked for wins).
    public mutating func remind(at time: Double, _ reason: String) {
        if let r = reminder, r.at <= time { return }
        reminder = (time, reason)
    }

    /// Whether iptables-legacy tables are loaded now: arms or disarms the timer.
    public mutating func legacyTables(loaded: Bool, at now: Double) {
        if !loaded { nextLegacy = nil } else if nextLegacy == nil { nextLegacy = now + timing.legacyInterval }
    }

    /// What to do now: check, or sleep until a time (or the next event).
    public mutating func next(at now: Double) -> Action {
        refill(at: now)
        if let due = nextLegacy, now >= due {
            nextLegacy = now + timing.legacyInterval
            note(.firewall("the iptables-legacy timer"), at: now)
        }
        if let r = reminder, now >= r.at {
            reminder = nil
            note(.guests(r.reason), at: now)
        }
        // In a fight, a quiet spell is checked once: did the other program stop?
        if dirty == nil, fightSince != nil, let last = repairs.last, now >= last + timing.fightConfirm, confirmed != last {
            confirmed = last
            note(.firewall("checking that the other program stopped"), at: now)
        }
        // A retry is a whole check: a failure says nothing of what the last one saw.
        if let at = retryAt, now >= at {
            retryAt = nil
            mark("retry after a failed check", guests: lastCheckGuests, files: false, at: now)
        }
        let confirm = fightSince != nil && dirty == nil ? repairs.last.flatMap { $0 == confirmed ? nil : $0 + timing.fightConfirm } : nil
        guard let d = dirty else { return .sleep(until: [nextLegacy, confirm, reminder?.at, retryAt].compactMap { $0 }.min()) }
        let settled = min(d.first + timing.longestDelay, d.last + timing.debounce)
        // Following libvirt may run one repair ahead of the bucket, never more; after a
        // failure, nothing runs before the retry.
        let ready = max(settled, d.guests ? tokenTime(at: now, owing: 1) : tokenTime(at: now), retryAt ?? now)
        if now >= ready {
            dirty = nil
            lastCheckFilesOnly = d.files
            lastCheckGuests = d.guests
            return .check(reasons: d.reasons)
        }
        return .sleep(until: [nextLegacy, reminder?.at, ready].compactMap { $0 }.min())
    }

    /// Takes the check's result; returns the lines to log about a fight, or about checks that
    /// work again after failing. A failure is the caller's to say, with `failures` and `retryAt`.
    public mutating func checked(_ result: CheckResult, at now: Double) -> [String] {
        refill(at: now)
        repairs.removeAll { now - $0 >= 60 }
        var lines: [String] = []
        if result != .failed, let since = failingSince {
            lines.append("checks work again after \(failures) failed attempt\(failures == 1 ? "" : "s") over \(Self.seconds(now - since))")
            failures = 0
            failingSince = nil
            retryAt = nil
        }
        switch result {
        case .repaired:
            // Spent. A check for the firewall alone waits for a whole token; one that follows
            // libvirt waits only while the bucket is in debt, so it may take it one repair
            // deep: the bound holds (burst + 1 + one per interval, whatever the leases do), and
            // once the other program stops, its last change is repaired within two intervals.
            tokens = max(-1, tokens - 1)
            repairs.append(now)
            if fightSince != nil { fightRepairs += 1 }
            if repairs.count >= timing.fightRepairs && fightSince == nil {
                fightSince = now
                fightRepairs = repairs.count
                lastReport = now
                lines.append("another program keeps undoing the rules: \(repairs.count) repairs in the last 60 s; "
                    + "repairing at most once every \(Self.seconds(timing.repairInterval)) while it goes on")
            } else if let last = lastReport, fightSince != nil, now - last >= timing.fightReport {
                lastReport = now
                lines.append("another program still undoes the rules: \(repairs.count) repairs in the last 60 s")
            }
        case .steady, .followed:
            // A check with nothing of another program's to undo, or a minute without one.
            if let since = fightSince, result == .steady || repairs.isEmpty {
                lines.append("the rules held: the other program stopped undoing them after \(fightRepairs) repairs over \(Self.seconds(now - since))")
                fightSince = nil
            }
        case .failed:
            failures += 1
            if failingSince == nil { failingSince = now }
            // 1, 2, 4... seconds: the exponent is capped first, so no count of failures overflows.
            let wait = min(timing.retryLongest, timing.retryFirst * Double(1 << min(failures - 1, 30)))
            retryAt = now + wait
        }
        return lines
    }

    private mutating func refill(at now: Double) {
        if let last = refilled { tokens = min(Double(timing.burst), tokens + max(0, now - last) / timing.repairInterval) }
        refilled = now
    }

    /// When the bucket holds a whole repair again (or, `owing` 1, is out of debt).
    private func tokenTime(at now: Double, owing: Double = 0) -> Double {
        let needed = 1 - owing
        return tokens >= needed ? now : now + (needed - tokens) * timing.repairInterval
    }

    static func seconds(_ t: Double) -> String { t < 10 ? "\(Double(Int(t * 10)) / 10) s" : "\(Int(t)) s" }
}
