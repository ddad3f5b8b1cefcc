import FoundationEssentials
import PortFwdCore
#if canImport(Glibc)
import Glibc
#endif

/// The addresses this host holds on any interface, from getifaddrs(3).
public enum HostAddresses {
    public static func current() -> Set<IPAddress> {
        var head: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&head) == 0 else { return [] }
        defer { freeifaddrs(head) }
        var result: Set<IPAddress> = []
        var cursor = head
        while let entry = cursor {
            defer { cursor = entry.pointee.ifa_next }
            guard let sa = entry.pointee.ifa_addr else { continue }
            switch Int32(sa.pointee.sa_family) {
            case AF_INET:
                let bytes = sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { p in withUnsafeBytes(of: p.pointee.sin_addr) { Array($0) } }
                result.insert(IPAddress(family: .ipv4, bytes: bytes))
            case AF_INET6:
                let bytes = sa.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { p in withUnsafeBytes(of: p.pointee.sin6_addr) { Array($0) } }
                result.insert(IPAddress(family: .ipv6, bytes: bytes))
            default:
                continue
            }
        }
        return result
    }
}
