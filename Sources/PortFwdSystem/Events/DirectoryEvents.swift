import CLinux
import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif
import PortFwdCore

/// inotify on a few directories: libvirt's lease files (a guest got or changed its address)
/// and its running domains' status files (a guest started or stopped). Only "something
/// changed in this directory" is reported; what changed is read from the files.
///
/// A directory that does not exist yet (libvirt not started, no network with DHCP yet) is
/// waited for on its nearest existing ancestor, so it is watched, and reported, the moment it
/// appears, and again if it is removed and made anew.
public final class DirectoryEvents {
    public let fd: Int32
    /// Watch descriptor -> the directory whose contents it watches.
    private var watched: [Int32: String] = [:]
    /// Watch descriptor on an ancestor -> the directories waited for below it.
    private var waiting: [Int32: Set<String>] = [:]
    private var ancestors: [Int32: String] = [:]

    public init() throws(PortFwdError) {
        fd = inotify_init1(Int32(IN_CLOEXEC | IN_NONBLOCK))
        guard fd >= 0 else { throw PortFwdError(.unavailable, "inotify: \(SystemCall.reason())") }
    }

    deinit { close(fd) }

    static let contentMask = UInt32(IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_DELETE_SELF | IN_MOVE_SELF)
    static let ancestorMask = UInt32(IN_CREATE | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF)

    /// Watches `path`; returns true when it is watched now (it exists). Otherwise its nearest
    /// existing ancestor is watched for it to appear.
    @discardableResult
    public func watch(_ path: String) -> Bool {
        if watched.values.contains(path) { return true }
        let wd = inotify_add_watch(fd, path, Self.contentMask | UInt32(IN_ONLYDIR))
        if wd >= 0 {
            watched[wd] = path
            return true
        }
        var ancestor = path
        while true {
            guard let slash = ancestor.utf8.lastIndex(of: UInt8(ascii: "/")) else { return false }
            ancestor = slash == ancestor.utf8.startIndex ? "/" : String(ancestor[..<slash])
            let awd = inotify_add_watch(fd, ancestor, Self.ancestorMask | UInt32(IN_ONLYDIR))
            if awd >= 0 {
                ancestors[awd] = ancestor
                waiting[awd, default: []].insert(path)
                return false
            }
            if ancestor == "/" { return false }
        }
    }

    /// The watched directories that changed since the last call, and those that appeared.
    public func drain() -> Set<String> {
        var changed = Set<String>()
        var retry = Set<String>()
        var buffer = [UInt8](repeating: 0, count: 1 << 14)
        let header = MemoryLayout<inotify_event>.size
        while true {
            let n = SystemCall.retrying { buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) } }
            if n <= 0 { break }
            var offset = 0
            while n - offset >= header {
                let (wd, mask, length) = buffer.withUnsafeBytes { raw -> (Int32, UInt32, UInt32) in
                    let event = raw.loadUnaligned(fromByteOffset: offset, as: inotify_event.self)
                    return (event.wd, event.mask, event.len)
                }
                if let path = watched[wd] {
                    changed.insert(path)
                    if mask & UInt32(IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED) != 0 {
                        // Gone: wait for it to come back.
                        watched[wd] = nil
                        if mask & UInt32(IN_IGNORED) == 0 { inotify_rm_watch(fd, wd) }
                        retry.insert(path)
                    }
                }
                if let targets = waiting[wd] {
                    retry.formUnion(targets)
                    if mask & UInt32(IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED) != 0 { waiting[wd] = nil; ancestors[wd] = nil }
                }
                offset += header + Int(length)
            }
        }
        // Re-arm every directory waited for: those that exist now are reported as changed.
        if !retry.isEmpty {
            let all = retry.union(pendingTargets)
            for (wd, _) in waiting { inotify_rm_watch(fd, wd) }
            waiting.removeAll()
            ancestors.removeAll()
            for path in all.sorted() where watch(path) { changed.insert(path) }
        }
        return changed
    }

    /// Directories waited for on an ancestor that did not speak this time.
    private var pendingTargets: Set<String> { waiting.values.reduce(into: Set<String>()) { $0.formUnion($1) } }
}
