import CLinux
import Foundation
import PortFwdCore

/// inotify on a few directories: libvirt's lease files (a guest got or changed its address)
/// and its running domains' status files (a guest started or stopped). Only "something
/// changed in this directory" is reported; what changed is read from the files.
public final class DirectoryEvents {
    public let fd: Int32
    private var watched: [Int32: String] = [:]

    public init() throws(PortFwdError) {
        fd = inotify_init1(Int32(IN_CLOEXEC | IN_NONBLOCK))
        guard fd >= 0 else { throw PortFwdError(.unavailable, "inotify: \(String(cString: strerror(errno)))") }
    }

    deinit { close(fd) }

    /// Watches `path` if it exists and is not watched yet; a directory libvirt has not made
    /// yet is tried again on the next call.
    public func watch(_ path: String) {
        guard !watched.values.contains(path) else { return }
        let mask = UInt32(IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_DELETE_SELF)
        let wd = inotify_add_watch(fd, path, mask)
        if wd >= 0 { watched[wd] = path }
    }

    /// The directories that changed since the last call.
    public func drain() -> Set<String> {
        var changed = Set<String>()
        var buffer = [UInt8](repeating: 0, count: 1 << 14)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { if n < 0 && errno == EINTR { continue }; break }
            var offset = 0
            while offset + MemoryLayout<inotify_event>.size <= n {
                let (wd, mask, length) = buffer.withUnsafeBytes { raw -> (Int32, UInt32, UInt32) in
                    let event = raw.loadUnaligned(fromByteOffset: offset, as: inotify_event.self)
                    return (event.wd, event.mask, event.len)
                }
                if let path = watched[wd] {
                    changed.insert(path)
                    if mask & UInt32(IN_DELETE_SELF | IN_IGNORED) != 0 { watched[wd] = nil }
                }
                offset += MemoryLayout<inotify_event>.size + Int(length)
            }
        }
        return changed
    }
}

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
        guard fd >= 0 else { throw PortFwdError(.unavailable, "signalfd: \(String(cString: strerror(errno)))") }
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
