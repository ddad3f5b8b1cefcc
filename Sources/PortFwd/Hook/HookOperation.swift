import CHookTriage

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

        init(_ code: Int32) {
            switch UInt32(bitPattern: code) {
            case PF_ACTION_CHECK.rawValue: self = .check
            case PF_ACTION_RECORD.rawValue: self = .record
            case PF_ACTION_RERECORD.rawValue: self = .rerecord
            case PF_ACTION_FORGET.rawValue: self = .forget
            default: self = .none
            }
        }

        var code: Int32 {
            switch self {
            case .check: Int32(PF_ACTION_CHECK.rawValue)
            case .record: Int32(PF_ACTION_RECORD.rawValue)
            case .rerecord: Int32(PF_ACTION_RERECORD.rawValue)
            case .forget: Int32(PF_ACTION_FORGET.rawValue)
            case .none: Int32(PF_ACTION_NONE.rawValue)
            }
        }
    }

    public let name: String
    public let action: Action

    /// The table is CHookTriage's, which the hook's front door reads too.
    public static func named(_ name: String) -> HookOperation {
        let code = Array(name.utf8).withUnsafeBufferPointer { pf_hook_action($0.baseAddress, $0.count) }
        return HookOperation(name: name, action: Action(code))
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
