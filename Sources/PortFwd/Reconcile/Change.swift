import PortFwdCore

/// What a caller wants changed before the rules are made equal to the plan again. Every
/// event is one of these: a hook, `apply`, `flush`, the watch service, `forward add`.
public struct Change: Sendable {
    /// Records to write: a guest starting, reconnecting, or moving to a new lease.
    public var record: [RunningGuest] = []
    /// Records to remove: a guest stopping.
    public var forget: [DomainUUID] = []
    /// Switch between covering running guests and every configured guest.
    public var mode: Mode?
    /// Adopt running guests that have forwards but no record, and drop records of guests that
    /// do not run, from libvirt's status files (`apply`, `watch`; never a hook).
    public var syncWithLibvirt = false
    /// Plan and check only; change nothing (`prepare`).
    public var dryRun = false
    /// Remove every rule of ours instead of installing the plan (`flush`).
    public var flush = false

    public init() {}

    public static var reapply: Change { Change() }
    public static func record(_ guest: RunningGuest) -> Change { var c = Change(); c.record = [guest]; return c }
    public static func forget(_ uuid: DomainUUID) -> Change { var c = Change(); c.forget = [uuid]; return c }
    public static func check(_ guest: RunningGuest) -> Change { var c = Change(); c.record = [guest]; c.dryRun = true; return c }
    public static var flushAll: Change { var c = Change(); c.flush = true; return c }
}

/// Which guests the rules cover. `all` is what `apply --all` records, for hosts that run
/// without the hook; hooks and the service keep it until `apply --running`. `off` is what
/// `flush` records: records still follow the guests, but nothing is installed until `apply`.
public enum Mode: String, Sendable, CaseIterable {
    case running, all, off
}
