import CLinux
#if canImport(Glibc)
import Glibc
#endif
import PortFwdCore

/// A dump asked of the kernel over netlink (NLM_F_DUMP): the neighbour tables (`Neighbours`) and
/// the host's listening sockets (`SocketDiag`). Requests go out one after another on one socket,
/// each answer read through `NetlinkGroup.receive` until its reader has what it needs. Only the
/// kernel's datagrams are read (sender port id 0), and the whole exchange is bounded in bytes
/// and in time: a hostile or huge answer is cut, never a reason to stop or to grow without end.
enum NetlinkDump {
    /// How an exchange ended.
    enum Outcome: Equatable {
        /// Every request's reader said it had the whole answer.
        case complete
        /// The socket could not be opened, a request not sent, or an answer not read to its end
        /// (a timeout, an overrun, a failed read, or more than `budget` bytes).
        case incomplete
    }

    /// Sends each request (a whole netlink message, its header's length and flags already set)
    /// and hands every datagram of its answer to `take`, which returns true once that answer is
    /// complete (NLMSG_DONE or NLMSG_ERROR seen).
    /// - Parameters:
    ///   - budget: bytes read in all, past which the exchange stops, incomplete.
    ///   - take: the request's index and one datagram from the kernel.
    static func exchange(protocol family: Int32, requests: [[UInt8]], budget: Int = 64 << 20,
                         _ take: (Int, ArraySlice<UInt8>) -> Bool) -> Outcome {
        let fd = socket(AF_NETLINK, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), family)
        guard fd >= 0 else { return .incomplete }
        defer { close(fd) }
        // A kernel that never finishes its answer must not hang a hook.
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var kernel = sockaddr_nl()
        kernel.nl_family = sa_family_t(AF_NETLINK)
        var buffer = NetlinkGroup.datagramBuffer()
        var read = 0
        for (index, request) in requests.enumerated() {
            let sent = request.withUnsafeBytes { raw in
                withUnsafePointer(to: &kernel) { p in
                    p.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        sendto(fd, raw.baseAddress, raw.count, 0, $0, socklen_t(MemoryLayout<sockaddr_nl>.size))
                    }
                }
            }
            guard sent == request.count else { return .incomplete }
            var complete = false
            while !complete {
                guard case .datagram(let n, let fromKernel) = NetlinkGroup.receive(fd, into: &buffer) else { return .incomplete }
                read += n
                guard read <= budget else { return .incomplete }
                if fromKernel { complete = take(index, buffer[..<n]) }
            }
        }
        return .complete
    }

    /// A request's header, struct nlmsghdr, before `body`: type, NLM_F_REQUEST | NLM_F_DUMP
    /// (NLM_F_REQUEST alone when `dump` is false: one object asked for, one answer),
    /// and `sequence`.
    static func request(type: UInt16, sequence: UInt32, body: [UInt8], dump: Bool = true) -> [UInt8] {
        var message = [UInt8](repeating: 0, count: 16)
        put32(&message, 0, UInt32(16 + body.count))
        put16(&message, 4, type)
        put16(&message, 6, UInt16(dump ? NLM_F_REQUEST | NLM_F_DUMP : NLM_F_REQUEST))
        put32(&message, 8, sequence)
        return message + body
    }

    static func put16(_ b: inout [UInt8], _ i: Int, _ v: UInt16) { b[i] = UInt8(v & 0xff); b[i + 1] = UInt8(v >> 8) }
    static func put32(_ b: inout [UInt8], _ i: Int, _ v: UInt32) { put16(&b, i, UInt16(v & 0xffff)); put16(&b, i + 2, UInt16(v >> 16)) }
}
