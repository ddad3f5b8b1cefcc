import CLinux
#if canImport(Glibc)
import Glibc
#endif
import PortFwdCore

/// A netlink socket subscribed to one multicast group of the kernel's: the one way the service
/// and `trace` hear netfilter's commits, its trace events and the neighbour tables' changes.
/// Non-blocking and closed on exec; only the kernel sends to a group, so whatever is read from
/// it is the kernel's (each reader still checks every length).
enum NetlinkGroup {
    /// The socket's descriptor. `what` names the group in the one-line error.
    /// - Parameter buffer: a receive buffer to ask for (SO_RCVBUFFORCE, root only), or 0.
    static func subscribe(protocol family: Int32, group: UInt32, buffer: Int32 = 0, what: String) throws(PortFwdError) -> Int32 {
        let fd = socket(AF_NETLINK, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), family)
        guard fd >= 0 else { throw PortFwdError(.unavailable, "cannot open a netlink socket for \(what): \(SystemCall.reason())") }
        var address = sockaddr_nl()
        address.nl_family = sa_family_t(AF_NETLINK)
        let bound = withUnsafePointer(to: &address) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_nl>.size)) }
        }
        var member = Int32(group)
        guard bound == 0, setsockopt(fd, Int32(SOL_NETLINK), NETLINK_ADD_MEMBERSHIP, &member, socklen_t(MemoryLayout<Int32>.size)) == 0 else {
            let reason = SystemCall.reason()
            close(fd)
            throw PortFwdError(.unavailable, "cannot subscribe to \(what): \(reason)")
        }
        if buffer > 0 {
            var size = buffer
            _ = setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        return fd
    }

    /// One datagram read from a netlink socket: a group's, or a dump's (`Neighbours.current`).
    enum Received {
        /// `count` bytes in the buffer; `fromKernel` false for any other sender.
        case datagram(count: Int, fromKernel: Bool)
        /// The kernel dropped messages (ENOBUFS): anything may have changed.
        case overrun
        /// Nothing more to read now, or the socket failed.
        case none
    }

    /// Room for one datagram, left unzeroed: only the bytes the kernel writes (`receive`'s
    /// count) are ever read, and zeroing 64 KiB cost more than a small answer's whole parse.
    static func datagramBuffer() -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: 1 << 16) { _, count in count = 1 << 16 }
    }

    static func receive(_ fd: Int32, into buffer: inout [UInt8]) -> Received {
        var sender = sockaddr_nl()
        var length = socklen_t(MemoryLayout<sockaddr_nl>.size)
        let n = SystemCall.retrying {
            buffer.withUnsafeMutableBytes { raw in
                withUnsafeMutablePointer(to: &sender) { p in
                    p.withMemoryRebound(to: sockaddr.self, capacity: 1) { recvfrom(fd, raw.baseAddress, raw.count, 0, $0, &length) }
                }
            }
        }
        if n < 0 { return errno == ENOBUFS ? .overrun : .none }
        if n == 0 { return .none }
        return .datagram(count: n, fromKernel: sender.nl_family == sa_family_t(AF_NETLINK) && sender.nl_pid == 0)
    }
}
