/// What libvirt's qemu hook operations mean to us, in one place (libvirt docs/hooks.rst). The
/// shims, the no-op triage and the hook's dispatch all read it.
///
/// - `prepare` and `start`: a non-zero exit aborts the guest's start, and libvirt shows the
///   hook's stderr in the error virsh prints. We refuse a start for one reason only: a
///   forward of this guest's conflicts with another running guest's (as Docker refuses an
///   allocated port). Everything else (a broken config, a missing address, metadata the
///   policy refuses, a kernel that refuses the rules) is logged, and the guest starts.
/// - `reconnect` (libvirtd restarted) and `attach`: a non-zero exit kills the running guest.
///   They never fail.
/// - `stopped` and `release`: they abort nothing and never fail, and they need nothing from the
///   XML but the domain's identity, which no guest owner can make unreadable.
/// - Everything else (`started`, `migrate` and `restore`, which treat stdout as replacement
///   XML, and operations of future releases) is left alone.
public struct HookOperation: Sendable, Equatable, CustomStringConvertible {
    public enum Action: Sendable, Equatable {
        /// Plan with the guest added and check it; change nothing.
        case check
        /// Record the guest and install.
        case record
        /// Record again the guest that already runs.
        case rerecord
        /// Forget the guest and install.
        case forget
        case none
    }

    public let name: String
    public let action: Action

    public static func named(_ name: String) -> HookOperation {
        switch name {
        case "prepare": return HookOperation(name: name, action: .check)
        case "start": return HookOperation(name: name, action: .record)
        case "reconnect", "attach": return HookOperation(name: name, action: .rerecord)
        case "stopped", "release": return HookOperation(name: name, action: .forget)
        default: return HookOperation(name: name, action: .none)
        }
    }

    /// Every operation we act on.
    public static let acting = ["prepare", "start", "reconnect", "attach", "stopped", "release"].map(named)

    /// A failure here may refuse the guest's start: only a conflict of its own forwards does.
    public var mayRefuse: Bool { action == .check || action == .record }

    /// Whether the exit status must be 0 whatever happens, which the shim itself guarantees:
    /// a process can die in ways no code of ours sees (libnftables calls exit() when an
    /// allocation fails).
    public var neverFails: Bool { action == .rerecord || action == .forget }

    public var description: String { name }
}
