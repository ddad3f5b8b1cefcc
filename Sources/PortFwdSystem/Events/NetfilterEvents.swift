import CLinux
import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif
import PortFwdCore

/// netfilter's change notifications (netlink group NFNLGRP_NFTABLES): every nftables and
/// iptables-nft commit is announced, table by table, and closed by a NEWGEN message naming
/// the process that made it. That is how the watch service tells its own changes from
/// others' without polling. iptables-legacy changes are not announced.
///
/// Only the kernel's messages count: anything unicast to the socket by a process (any sender
/// port id but 0) is dropped unread, and every length in what is read is checked before use.
public final class NetfilterEvents {
    public let fd: Int32
    private var parser = NetfilterMessages()

    public init() throws(PortFwdError) {
        // A big commit (thousands of set elements) announces every element; room for them
        // keeps our own commits attributable. Past it, ENOBUFS only costs one extra check.
        fd = try NetlinkGroup.subscribe(protocol: NETLINK_NETFILTER, group: NFNLGRP_NFTABLES.rawValue, buffer: 8 << 20,
                                        what: "netfilter's notifications")
    }

    deinit { close(fd) }

    /// Datagrams read in one drain: past them, the rest waits for the next wake-up, so that a
    /// stream of commits that never pauses cannot keep the service from its signals.
    public static let maximumDatagrams = 4096

    /// Everything readable now, up to `maximumDatagrams`. `overrun` is true when the kernel
    /// dropped notifications (ENOBUFS): something changed, nobody knows what. `foreign`
    /// counts messages from processes, dropped.
    public func drain() -> (commits: [NetfilterMessages.Commit], overrun: Bool, foreign: Int) {
        var commits: [NetfilterMessages.Commit] = []
        var overrun = false, foreign = 0
        var buffer = NetlinkGroup.datagramBuffer()
        reading: for _ in 0..<Self.maximumDatagrams {
            switch NetlinkGroup.receive(fd, into: &buffer) {
            case .overrun: overrun = true
            case .none: break reading
            case .datagram(let n, let fromKernel):
                guard fromKernel else { foreign += 1; continue }
                commits += parser.parse(buffer[..<n])
            }
        }
        return (commits, overrun, foreign)
    }
}

/// The parse of netfilter's notification messages, apart from the socket: a run of table
/// changes closed by NEWGEN. Every length is checked against what was read; a message that
/// does not fit ends the parse of its datagram. `pending` carries, across datagrams, whether
/// the run so far touched a relevant table.
public struct NetfilterMessages: Sendable {
    /// Tables a change to which can affect our forwards: ours, libvirt's, iptables-nft's
    /// (admission in FORWARD, the iptables backend's chains) and firewalld's.
    public static let relevantTables: Set<String> = ["libvirt_portfwd", "libvirt_network", "filter", "nat", "firewalld"]

    /// One commit: which process made it, and whether it touched a relevant table.
    public struct Commit: Sendable, Equatable {
        public let pid: Int32
        /// The committing process's name, as the kernel recorded it (printable only).
        public let process: String
        public let relevant: Bool
    }

    private var pending = false

    public init() {}

    static let headerSize = 16      // struct nlmsghdr
    static let familySize = 4       // struct nfgenmsg
    static let subsysNftables = Int(NFNL_SUBSYS_NFTABLES)
    static let newgen = Int(NFT_MSG_NEWGEN.rawValue)

    public mutating func parse(_ bytes: ArraySlice<UInt8>) -> [Commit] {
        var commits: [Commit] = []
        var offset = bytes.startIndex
        while bytes.endIndex - offset >= Self.headerSize {
            let length = Int(Self.u32(bytes, offset))
            let type = Int(Self.u16(bytes, offset + 4))
            guard length >= Self.headerSize, length <= bytes.endIndex - offset else { break }
            let body = bytes[(offset + Self.headerSize)..<(offset + length)]
            if type >> 8 == Self.subsysNftables, body.count >= Self.familySize {
                let attributes = Self.attributes(body.dropFirst(Self.familySize))
                if type & 0xff == Self.newgen {
                    let pid = attributes[Int(NFTA_GEN_PROC_PID.rawValue)].flatMap {
                        $0.count >= 4 ? Int32(bitPattern: Self.be32($0, $0.startIndex)) : nil
                    } ?? 0
                    let name = attributes[Int(NFTA_GEN_PROC_NAME.rawValue)].map { Self.text($0) } ?? "?"
                    commits.append(Commit(pid: pid, process: name, relevant: pending))
                    pending = false
                } else if let table = attributes[1].map(Self.text) {
                    // Attribute 1 is the table's name in every table, chain, rule, set and element message.
                    if Self.relevantTables.contains(table) { pending = true }
                } else {
                    pending = true
                }
            }
            let step = (length + 3) & ~3
            guard step <= bytes.endIndex - offset else { break }
            offset += step
        }
        return commits
    }

    /// Attributes by type; one whose length does not fit ends the list.
    static func attributes(_ bytes: ArraySlice<UInt8>) -> [Int: ArraySlice<UInt8>] {
        var result: [Int: ArraySlice<UInt8>] = [:]
        forEach(bytes) { type, value in result[type] = value }
        return result
    }

    /// Calls `body` with each attribute's type (flags masked off) and value, in order; one
    /// whose length does not fit ends the walk.
    static func forEach(_ bytes: ArraySlice<UInt8>, _ body: (Int, ArraySlice<UInt8>) -> Void) {
        var offset = bytes.startIndex
        while bytes.endIndex - offset >= 4 {
            let length = Int(u16(bytes, offset)), type = Int(u16(bytes, offset + 2)) & ~(Int(NLA_F_NESTED) | Int(NLA_F_NET_BYTEORDER))
            guard length >= 4, length <= bytes.endIndex - offset else { return }
            body(type, bytes[(offset + 4)..<(offset + length)])
            offset += min((length + 3) & ~3, bytes.endIndex - offset)
        }
    }

    /// A NUL-terminated name, kept to printable ASCII and 64 bytes: it reaches log lines.
    static func text(_ bytes: ArraySlice<UInt8>) -> String {
        String(decoding: bytes.prefix { $0 != 0 }.prefix(64).map { $0 >= 0x20 && $0 < 0x7f ? $0 : UInt8(ascii: "?") }, as: UTF8.self)
    }

    static func u16(_ b: ArraySlice<UInt8>, _ i: Int) -> UInt16 { UInt16(b[i]) | UInt16(b[i + 1]) << 8 }
    static func u32(_ b: ArraySlice<UInt8>, _ i: Int) -> UInt32 { UInt32(u16(b, i)) | UInt32(u16(b, i + 2)) << 16 }
    static func be32(_ b: ArraySlice<UInt8>, _ i: Int) -> UInt32 {
        UInt32(b[i]) << 24 | UInt32(b[i + 1]) << 16 | UInt32(b[i + 2]) << 8 | UInt32(b[i + 3])
    }
}
