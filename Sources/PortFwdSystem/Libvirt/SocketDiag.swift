import CLinux
#if canImport(Glibc)
import Glibc
#endif
import PortFwdCore

/// The host's listening sockets asked of the kernel (NETLINK_SOCK_DIAG, SOCK_DIAG_BY_FAMILY) in
/// this thread's network namespace. Where reading /proc/net/tcp walks every bucket of the
/// host-wide established-connections hash, a dump of the listening state walks only the
/// listening hash (bench/RESULTS.md has the figures). The same sockets, owners and inodes as
/// `HostSockets.listening(files:)` reads.
public enum SocketDiag {
    /// The kernel's TCP states (include/net/tcp_states.h, not exported to user space).
    static let tcpListen: UInt8 = 10
    /// A UDP socket bound and not connected (a connected one is TCP_ESTABLISHED).
    static let tcpClose: UInt8 = 7

    /// The questions, in order: listening TCP and unconnected UDP, IPv4 and IPv6.
    static let questions: [(family: Int32, proto: Proto, state: UInt8)] = [
        (AF_INET, .tcp, tcpListen), (AF_INET6, .tcp, tcpListen), (AF_INET, .udp, tcpClose), (AF_INET6, .udp, tcpClose),
    ]

    /// Every listening TCP socket and bound UDP socket; nil when the kernel cannot answer
    /// whole (no sock_diag, a module missing, a timeout): the caller reads the files then.
    public static func listening() -> [Listener]? {
        let requests = questions.enumerated().map { index, question in
            NetlinkDump.request(type: UInt16(SOCK_DIAG_BY_FAMILY), sequence: UInt32(index + 1),
                                body: request(family: question.family, proto: question.proto, state: question.state))
        }
        var parsers = questions.map { SocketDiagMessages(proto: $0.proto, state: $0.state) }
        let outcome = NetlinkDump.exchange(protocol: NETLINK_SOCK_DIAG, requests: requests) { index, datagram in
            parsers[index].parse(datagram)
            return parsers[index].done
        }
        guard outcome == .complete, parsers.allSatisfy({ !$0.failed }) else { return nil }
        return parsers.flatMap(\.entries)
    }

    /// struct inet_diag_req_v2: family, protocol, no extensions, the states asked for, and a
    /// socket id of zeros (every socket).
    static func request(family: Int32, proto: Proto, state: UInt8) -> [UInt8] {
        var body = [UInt8](repeating: 0, count: MemoryLayout<inet_diag_req_v2>.size)
        body[0] = UInt8(family)
        body[1] = proto == .tcp ? 6 : 17  // IPPROTO_TCP, IPPROTO_UDP
        NetlinkDump.put32(&body, 4, UInt32(1) << UInt32(state))
        return body
    }
}

/// The parse of one sock_diag answer (struct inet_diag_msg per socket), apart from the socket.
/// Every length is checked: a short or lying message is skipped or ends the parse, never read
/// past.
public struct SocketDiagMessages: Sendable {
    public let proto: Proto
    /// The state a socket must be in: what was asked for.
    let state: UInt8
    public private(set) var entries: [Listener] = []
    /// The answer ended: NLMSG_DONE, or NLMSG_ERROR (`failed`).
    public private(set) var done = false
    /// The kernel refused the question (NLMSG_ERROR): the answer says nothing of the sockets.
    public private(set) var failed = false

    /// TCP's listening sockets, or UDP's unconnected ones.
    public init(proto: Proto) {
        self.init(proto: proto, state: proto == .tcp ? SocketDiag.tcpListen : SocketDiag.tcpClose)
    }

    init(proto: Proto, state: UInt8) {
        self.proto = proto
        self.state = state
    }

    /// struct inet_diag_msg: family, state, timer, retransmits, then struct inet_diag_sockid
    /// (ports and addresses in network order), expires, queues, uid and inode.
    static let size = MemoryLayout<inet_diag_msg>.size

    public mutating func parse(_ bytes: ArraySlice<UInt8>) {
        var offset = bytes.startIndex
        while !done, bytes.endIndex - offset >= 16 {
            let length = Int(NetfilterMessages.u32(bytes, offset)), type = Int(NetfilterMessages.u16(bytes, offset + 4))
            guard length >= 16, length <= bytes.endIndex - offset else { break }
            if type == Int(NLMSG_DONE) { done = true }
            if type == Int(NLMSG_ERROR) { done = true; failed = true }
            if type == Int(SOCK_DIAG_BY_FAMILY), length - 16 >= Self.size, let entry = entry(bytes[(offset + 16)..<(offset + length)]) {
                entries.append(entry)
            }
            let step = (length + 3) & ~3
            guard step <= bytes.endIndex - offset else { break }
            offset += step
        }
    }

    /// One socket, as HostSockets reads it from /proc/net: a UDP socket connected to a peer
    /// takes only that peer's datagrams, so it is none.
    func entry(_ body: ArraySlice<UInt8>) -> Listener? {
        let b = body.startIndex
        let family = Int32(body[b])
        guard family == AF_INET || family == AF_INET6, body[b + 1] == state else { return nil }
        let port = UInt16(body[b + 4]) << 8 | UInt16(body[b + 5])
        let remotePort = UInt16(body[b + 6]) << 8 | UInt16(body[b + 7])
        if proto == .udp, remotePort != 0 { return nil }
        let width = family == AF_INET ? 4 : 16
        let address = IPAddress(family: width == 4 ? .ipv4 : .ipv6, bytes: Array(body[(b + 8)..<(b + 8 + width)]))
        let uid = NetfilterMessages.u32(body, b + 64), inode = NetfilterMessages.u32(body, b + 68)
        return Listener(proto: proto, address: address.isUnspecified ? nil : address, port: port, inode: UInt64(inode), uid: uid)
    }
}
