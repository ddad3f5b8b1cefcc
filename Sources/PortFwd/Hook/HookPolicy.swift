/// The exit policy of libvirt's qemu hook, in one table (libvirt docs/hooks.rst):
/// - a non-zero exit from `prepare` or `start` aborts the guest's start, and libvirt shows
///   the hook's stderr in the error virsh prints: our one-line reason;
/// - a non-zero exit from `reconnect` kills the running guest, and `stopped`/`release` can
///   abort nothing: those never fail, they log;
/// - everything else (`started`, `migrate` and `restore`, which treat stdout as replacement
///   XML, and operations of future releases) is left alone.
public enum HookPolicy: Sendable, Equatable {
    case strict
    case neverFails
    case ignored

    public static func of(_ operation: String) -> HookPolicy {
        switch operation {
        case "prepare", "start": return .strict
        case "stopped", "release", "reconnect", "attach": return .neverFails
        default: return .ignored
        }
    }

    /// The exit status for an operation that failed.
    public var failureStatus: Int32 { self == .strict ? 1 : 0 }
}
