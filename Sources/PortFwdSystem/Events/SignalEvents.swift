import CLinux
import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif
import PortFwdCore

/// SIGTERM, SIGINT and SIGHUP as readable events (signalfd), so the service's one poll loop
/// sees them like any other input.
public final class SignalEvents {
    public let fd: Int32

    public init(_ signals: [Int32] = [SIGTERM, SIGINT, SIGHUP]) throws(PortFwdError) {
        var mask = sigset_t()
        sigemptyset(&mask)
        for s in signals { sigaddset(&mask, s) }
        pthread_sigmask(SIG_BLOCK, &mask, nil)
        fd = signalfd(-1, &mask, Int32(SFD_CLOEXEC | SFD_NONBLOCK))
        guard fd >= 0 else { throw PortFwdError(.unavailable, "signalfd: \(SystemCall.reason())") }
    }

    deinit { close(fd) }

    public func drain() -> [Int32] {
        var signals: [Int32] = []
        var info = signalfd_siginfo()
        while read(fd, &info, MemoryLayout<signalfd_siginfo>.size) == MemoryLayout<signalfd_siginfo>.size {
            signals.append(Int32(info.ssi_signo))
        }
        return signals
    }
}
