import PortFwdCore
import PortFwdSystem

/// What one reconcile did: the plan now installed (or that would be), what is still waiting,
/// and what the admin should hear about.
public struct Outcome: Sendable {
    public var plan: Plan
    public var mode: Mode = .running
    public var warnings: [Warning] = []
    /// What the backend reports doing besides the table, such as where admission sits.
    public var notes: [String] = []
    /// Running guests whose forwards wait: for a DHCP lease, or for an address of their own.
    public var pending: [PendingGuest] = []
    /// Clashes between config forwards of running guests; both sides are left out.
    public var conflicts: [String] = []
    /// Forwards of running guests the plan leaves out, each with its reason.
    public var leftOut: [LeftOut] = []
    /// The records the plan came from (those written, for a change that is not a dry run).
    public var records: [RunningGuest] = []
    /// Set when stopping a guest could not re-plan and removed every forward instead.
    public var fellBack: String?
    public var adopted: [GuestName] = []
    public var dropped: [GuestName] = []
    /// Recorded guests whose addresses or metadata changed (a new lease, `virsh metadata --live`).
    public var changed: [GuestName] = []
    /// A guest's lease moved, and following it waits for the guest's rate bound (`FollowLimit`).
    public var followDeferred = false
    /// New addresses of guests' leases that wait until the guest is seen at them (its held
    /// address stays meanwhile): the service listens for that sighting.
    public var unseenMoves: Set<IPAddress> = []
    /// Records that do not read, one line each: `status` counts them as problems.
    public var unreadable: [String] = []

    public init(plan: Plan) { self.plan = plan }
}

/// Something an admin should hear about, though the change went through.
public struct Warning: Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        /// A state record was unreadable, corrupt or refused, and skipped.
        case record
        /// Metadata asks for more than the policy allows now; that part is not installed.
        case policy
        /// A configured guest could not be covered (`--all` without an address).
        case skipped
        /// The config did not parse; the last one that applied was used.
        case config
        /// Rules of the backend not in use could not be removed.
        case retire
        /// The state directory could not be locked or written (`flush` goes on without it).
        case state
        /// libvirt's status files could not all be read.
        case libvirt
        /// Another firewall will turn the forwards away whatever we install.
        case blocked
        /// Config forwards of two running guests clash; neither is installed.
        case conflict
        /// An installed forward takes the connections of a local user's socket.
        case userSocket
    }

    public let kind: Kind
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}
