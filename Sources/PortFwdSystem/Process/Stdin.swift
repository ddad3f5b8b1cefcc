import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

/// The hook's stdin: libvirt writes the domain XML there whatever the operation, and must see
/// it consumed (migrate and restore read our silence as "unchanged").
public enum Stdin {
    /// Up to `limit` bytes of stdin; the rest is read and dropped, and `complete` says so.
    public static func read(limit: Int) -> (bytes: [UInt8], complete: Bool) {
        var bytes: [UInt8] = []
        var complete = true
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let n = SystemCall.retrying { chunk.withUnsafeMutableBytes { Glibc.read(0, $0.baseAddress, $0.count) } }
            if n <= 0 { break }
            if bytes.count + n <= limit { bytes += chunk[..<n] } else { complete = false }
        }
        return (bytes, complete)
    }
}
