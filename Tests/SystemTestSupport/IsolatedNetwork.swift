import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Runs a body on a fresh thread that has unshared its network namespace, so libnftables
/// calls made there touch a throwaway kernel ruleset, never the host's. A network namespace
/// belongs to a thread, so the rest of the test process stays where it was.
public enum IsolatedNetwork {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// In a new namespace of its own, or in the named one (`ip netns add NAME`), so that
    /// iptables commands run with `ip netns exec NAME` see the same kernel rules.
    public static func run<T: Sendable>(in name: String? = nil, _ body: @escaping @Sendable () throws -> T) throws -> T {
        let box = ResultBox<T>()
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            defer { done.signal() }
            let entered = name.map { enter($0) } ?? unshareNetwork()
            guard entered == 0 else {
                box.result = .failure(Failure(description: "entering a network namespace: \(String(cString: strerror(errno)))"))
                return
            }
            box.result = Result { try body() }
        }
        thread.start()
        done.wait()
        return try box.result!.get()
    }

    /// setns(2) into /run/netns/NAME, for this thread only.
    private static func enter(_ name: String) -> Int32 {
        typealias SetNS = @convention(c) (Int32, Int32) -> Int32
        guard let symbol = dlsym(nil, "setns") else { return -1 }
        let fd = open("/run/netns/\(name)", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return -1 }
        defer { close(fd) }
        return unsafeBitCast(symbol, to: SetNS.self)(fd, 0x4000_0000)
    }

    /// glibc declares unshare(2) only under _GNU_SOURCE, which Swift's Glibc module lacks.
    private static func unshareNetwork() -> Int32 {
        typealias Unshare = @convention(c) (Int32) -> Int32
        guard let symbol = dlsym(nil, "unshare") else { return -1 }
        let CLONE_NEWNET: Int32 = 0x4000_0000
        return unsafeBitCast(symbol, to: Unshare.self)(CLONE_NEWNET)
    }

    private final class ResultBox<T>: @unchecked Sendable { var result: Result<T, Error>? }
}
