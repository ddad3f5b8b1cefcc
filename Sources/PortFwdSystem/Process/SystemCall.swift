#if canImport(Glibc)
import Glibc
#endif

/// What every system call of ours needs, written once: to be asked again when a signal
/// interrupted it, its failure in words, and whole writes.
public enum SystemCall {
    /// `call` again while it fails with EINTR; its last result otherwise (errno as it left it).
    public static func retrying<T: SignedInteger>(_ call: () -> T) -> T {
        while true {
            let result = call()
            if result >= 0 || errno != EINTR { return result }
        }
    }

    /// The C library's words for `code`, errno by default: `No such file or directory`.
    public static func reason(_ code: Int32 = errno) -> String { String(cString: strerror(code)) }

    /// Reads `fd` to its end, keeping at most `limit` bytes. With `drain` it reads on past the
    /// limit (a pipe whose writer must not block), else it stops there. `complete`: nothing
    /// was left out; `failure`: the errno of a read that failed.
    public static func readAll(_ fd: Int32, limit: Int, drain: Bool) -> (bytes: [UInt8], complete: Bool, failure: Int32?) {
        var bytes: [UInt8] = []
        var complete = true
        // Raw memory, not an array: zeroing 64 KiB for each of the dozen small files an apply
        // reads was 4 % of its instructions (callgrind).
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 << 10, alignment: 1)
        defer { chunk.deallocate() }
        while true {
            let n = retrying { read(fd, chunk.baseAddress, chunk.count) }
            if n < 0 { return (bytes, complete, errno) }
            if n == 0 { return (bytes, complete, nil) }
            // Once something is left out, nothing after it is kept: the bytes kept are a prefix.
            if complete && bytes.count + n <= limit { bytes += UnsafeRawBufferPointer(rebasing: chunk[..<n]) } else {
                complete = false
                if !drain { return (bytes, false, nil) }
            }
        }
    }

    /// Writes all of `bytes` to `fd`; false when a write fails or writes nothing (errno says why).
    public static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var done = 0
        while done < bytes.count {
            let n = retrying { bytes.withUnsafeBytes { write(fd, $0.baseAddress! + done, bytes.count - done) } }
            if n <= 0 { return false }
            done += n
        }
        return true
    }
}
