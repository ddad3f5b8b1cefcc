import PortFwdCore
import PortFwdSystem

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
    /// A guest starting: a clash of its forwards with another guest's refuses the change.
    public var newcomer: DomainUUID?
    /// Clashes between config forwards of other guests refuse the change (`apply`), rather
    /// than leave both out with a warning (the hooks, the service).
    public var refuseConflicts = false
    /// When the plan without the forgotten guests cannot be installed, remove every rule of
    /// ours instead (`stopped`: the guest's forwards must go, whatever else fails).
    public var removeAllIfStuck = false
    /// The service's bound on following one guest's lease moves (nil: every move at once).
    public var followLimit: FollowLimit?

    public init() {}

    public static var reapply: Change { Change() }
    /// The rules equal to the plan again, after adopting and dropping records by libvirt's
    /// status files (`apply`, `watch`, `forward add` on a running guest).
    public static var sync: Change { var c = Change(); c.syncWithLibvirt = true; return c }
    /// A guest that runs: recorded again, with what it declares now.
    public static func record(_ guest: RunningGuest) -> Change { var c = Change(); c.record = [guest]; return c }
    /// A guest starting: recorded, unless its forwards clash with another guest's.
    public static func start(_ guest: RunningGuest) -> Change { var c = record(guest); c.newcomer = guest.uuid; return c }
    /// A guest about to start: checked only.
    public static func check(_ guest: RunningGuest) -> Change { var c = start(guest); c.dryRun = true; return c }
    /// A guest that stopped: forgotten, and its forwards removed whatever else fails.
    public static func forget(_ uuid: DomainUUID) -> Change { var c = Change(); c.forget = [uuid]; c.removeAllIfStuck = true; return c }
    public static var flushAll: Change { var c = Change(); c.flush = true; return c }
}
