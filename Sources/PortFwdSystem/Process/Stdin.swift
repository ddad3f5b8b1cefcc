import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

/// The hook's stdin: libvirt writes the domain XML there whatever the operation, and must see
/// it consumed (migrate and restore read our silence as "unchanged").
public enum Stdin {
    /// Up to `limit` bytes of stdin; the rest is read and dropped, and `complete` says so.
    public static func read(limit: Int) -> (bytes: [UInt8], complete: Bool) {
        let read = SystemCall.readAll(0, limit: limit, drain: true)
        return (read.bytes, read.complete)
    }
}
