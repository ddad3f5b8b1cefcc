import CLinux
import Foundation
import PortFwdCore

/// netfilter's change notifications (netlink group NFNLGRP_NFTABLES): every nftables and
/// iptables-nft commit is announced, table by table, and closed by a NEWGEN message naming
/// the process that made it. That is how the watch service tells its own changes from
/// others' without polling. iptables-legacy changes are not announced.
public final class NetfilterEvents {
    public let fd: Int32
    /// Tables a change to which can affect our forwards: ours, libvirt's, iptables-nft's
    /// (admission in FORWARD, the iptables backend's chains) and firewalld's.
    public static let relevantTables: Set<String> = ["libvirt_portfwd", "libvirt_network", "filter", "nat", "firewalld"]

    /// One commit: which process made it, and whether it touched a relevant table.
    public struct Commit: Sendable, Equatable {
        public let pid: Int32
        /// The committing process's name, as the kernel recorded it.
        public let process: String
        public let relevant: Bool
    }

    private var pending = false

    public init() throws(PortFwdError) {
        fd = socket(AF_NETLINK, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), NETLINK_NETFILTER)
        guard fd >= 0 else { throw PortFwdError(.unavailable, "cannot open a netfilter netlink socket: \(String(cString: strerror(errno)))") }
        var address = sockaddr_nl()
        address.nl_family = sa_family_t(AF_NETLINK)
        let bound = withUnsafePointer(to: &address) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_nl>.size)) }
        }
        var group = Int32(NFNLGRP_NFTABLES.rawValue)
        guard bound == 0, setsockopt(fd, Int32(SOL_NETLINK), NETLINK_ADD_MEMBERSHIP, &group, socklen_t(MemoryLayout<Int32>.size)) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw PortFwdError(.unavailable, "cannot subscribe to netfilter's notifications: \(reason)")
        }
        // A big commit (thousands of set elements) announces every element; room for them
        // keeps our own commits attributable. Past it, ENOBUFS only costs one extra check.
        var size: Int32 = 8 << 20
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, socklen_t(MemoryLayout<Int32>.size))
    }

    deinit { close(fd) }

    /// Everything readable now. `overrun` is true when the kernel dropped notifications
    /// (ENOBUFS): something changed, nobody knows what.
    public func drain() -> (commits: [Commit], overrun: Bool) {
        var commits: [Commit] = []
        var overrun = false
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 {
                if errno == EINTR { continue }
                if errno == ENOBUFS { overrun = true; continue }
                break
            }
            if n == 0 { break }
            commits += parse(buffer[..<n])
        }
        return (commits, overrun)
    }

    /// Messages are a run of table changes closed by NEWGEN; `pending` carries whether the run
    /// so far touched a relevant table across reads.
    func parse(_ bytes: ArraySlice<UInt8>) -> [Commit] {
        var commits: [Commit] = []
        var offset = bytes.startIndex
        while offset + 16 <= bytes.endIndex {
            let length = Int(Self.u32(bytes, offset))
            let type = Int(Self.u16(bytes, offset + 4))
            guard length >= 16, offset + length <= bytes.endIndex else { break }
            if type >> 8 == Int(NFNL_SUBSYS_NFTABLES) {
                let attributes = Self.attributes(bytes[(offset + 20)..<(offset + length)])
                if type & 0xff == Int(NFT_MSG_NEWGEN.rawValue) {
                    let pid = attributes[Int(NFTA_GEN_PROC_PID.rawValue)].map { Int32(bitPattern: Self.be32($0, $0.startIndex)) } ?? 0
                    let name = attributes[Int(NFTA_GEN_PROC_NAME.rawValue)].map { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) } ?? "?"
                    commits.append(Commit(pid: pid, process: name, relevant: pending))
                    pending = false
                } else if let table = attributes[1].map({ String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }) {
                    // Attribute 1 is the table's name in every table, chain, rule, set and element message.
                    if Self.relevantTables.contains(table) { pending = true }
                } else {
                    pending = true
                }
            }
            offset += (length + 3) & ~3
        }
        return commits
    }

    private static func attributes(_ bytes: ArraySlice<UInt8>) -> [Int: ArraySlice<UInt8>] {
        var result: [Int: ArraySlice<UInt8>] = [:]
        var offset = bytes.startIndex
        while offset + 4 <= bytes.endIndex {
            let length = Int(u16(bytes, offset)), type = Int(u16(bytes, offset + 2)) & ~(Int(NLA_F_NESTED) | Int(NLA_F_NET_BYTEORDER))
            guard length >= 4, offset + length <= bytes.endIndex else { break }
            result[type] = bytes[(offset + 4)..<(offset + length)]
            offset += (length + 3) & ~3
        }
        return result
    }

    private static func u16(_ b: ArraySlice<UInt8>, _ i: Int) -> UInt16 { UInt16(b[i]) | UInt16(b[i + 1]) << 8 }
    private static func u32(_ b: ArraySlice<UInt8>, _ i: Int) -> UInt32 { UInt32(u16(b, i)) | UInt32(u16(b, i + 2)) << 16 }
    private static func be32(_ b: ArraySlice<UInt8>, _ i: Int) -> UInt32 {
        UInt32(b[i]) << 24 | UInt32(b[i + 1]) << 16 | UInt32(b[i + 2]) << 8 | UInt32(b[i + 3])
    }
}
