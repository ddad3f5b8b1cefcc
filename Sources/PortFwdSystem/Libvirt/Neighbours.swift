import CLinux
import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif
import PortFwdCore

/// The host's neighbour tables, both families, over rtnetlink (RTM_GETNEIGH): which MAC the host
/// delivers an address to, on which interface. IPv6 neighbours are in no /proc file. Only the
/// kernel's answers are read (sender port id 0), every length is checked, and the dump is
/// bounded: a table past `limit` entries is cut, never a reason to stop.
public enum Neighbours {
    public static let limit = 1 << 18

    /// Every entry with a MAC and a usable state, in this network namespace; none when the
    /// table cannot be read.
    public static func current() -> [Neighbour] {
        // struct ndmsg, all zero: every family.
        let request = NetlinkDump.request(type: UInt16(RTM_GETNEIGH), sequence: 1, body: [UInt8](repeating: 0, count: 12))
        var parser = NeighbourMessages()
        // A timeout, an error or an overrun ends the dump with what it has.
        _ = NetlinkDump.exchange(protocol: NETLINK_ROUTE, requests: [request]) { _, datagram in
            parser.parse(datagram)
            return parser.done || parser.entries.count >= limit
        }
        return Array(parser.entries.prefix(limit))
    }
}

/// The parse of rtnetlink's neighbour messages, apart from the socket.
public struct NeighbourMessages: Sendable {
    public private(set) var entries: [Neighbour] = []
    /// The dump ended (NLMSG_DONE or NLMSG_ERROR).
    public private(set) var done = false
    /// Names of interfaces by index, looked up once each.
    private var names: [Int32: String] = [:]

    public init() {}

    /// Usable: the kernel sends to this MAC now, or did lately and will ask again.
    static let usable = UInt16(NUD_REACHABLE | NUD_STALE | NUD_DELAY | NUD_PROBE | NUD_PERMANENT)

    public mutating func parse(_ bytes: ArraySlice<UInt8>, interface: (Int32) -> String? = Self.interfaceName) {
        var offset = bytes.startIndex
        while bytes.endIndex - offset >= 16 {
            let length = Int(NetfilterMessages.u32(bytes, offset)), type = Int(NetfilterMessages.u16(bytes, offset + 4))
            guard length >= 16, length <= bytes.endIndex - offset else { break }
            if type == Int(NLMSG_DONE) || type == Int(NLMSG_ERROR) { done = true; return }
            let body = bytes[(offset + 16)..<(offset + length)]
            if type == Int(RTM_NEWNEIGH), body.count >= 12, let entry = Self.entry(body, names: &names, interface: interface) {
                entries.append(entry)
            }
            let step = (length + 3) & ~3
            guard step <= bytes.endIndex - offset else { break }
            offset += step
        }
    }

    /// One RTM_NEWNEIGH body: struct ndmsg, then NDA_DST and NDA_LLADDR.
    static func entry(_ body: ArraySlice<UInt8>, names: inout [Int32: String], interface: (Int32) -> String?) -> Neighbour? {
        let b = body.startIndex
        let family = Int32(body[b])
        let index = Int32(bitPattern: NetfilterMessages.u32(body, b + 4))
        let state = NetfilterMessages.u16(body, b + 8)
        guard family == AF_INET || family == AF_INET6, state & usable != 0 else { return nil }
        let attributes = NetfilterMessages.attributes(body.dropFirst(12))
        let width = family == AF_INET ? 4 : 16
        guard let dst = attributes[Int(NDA_DST)], dst.count == width,
              let lladdr = attributes[Int(NDA_LLADDR)], lladdr.count == 6 else { return nil }
        let mac = lladdr.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined(separator: ":")
        guard let parsed = MAC(mac) else { return nil }
        if names[index] == nil { names[index] = interface(index) ?? "if\(index)" }
        return Neighbour(address: IPAddress(family: width == 4 ? .ipv4 : .ipv6, bytes: Array(dst)), mac: parsed, interface: names[index]!)
    }

    public static func interfaceName(_ index: Int32) -> String? {
        var name = [CChar](repeating: 0, count: Int(IF_NAMESIZE) + 1)
        guard if_indextoname(UInt32(bitPattern: index), &name) != nil else { return nil }
        return String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// The neighbour tables' changes as they happen (rtnetlink group RTNLGRP_NEIGH): the watch
/// service hears a guest start using the address it claims. Only the kernel's messages count.
public final class NeighbourEvents {
    public let fd: Int32

    public init() throws(PortFwdError) {
        fd = try NetlinkGroup.subscribe(protocol: NETLINK_ROUTE, group: RTNLGRP_NEIGH.rawValue, what: "the neighbour tables' changes")
    }

    deinit { close(fd) }

    /// The entries announced since the last drain, a bounded number of them; `overrun` when the
    /// kernel dropped some (anything may have changed).
    public func drain() -> (entries: [Neighbour], overrun: Bool) {
        var parser = NeighbourMessages()
        var overrun = false
        var buffer = NetlinkGroup.datagramBuffer()
        reading: for _ in 0..<256 {
            switch NetlinkGroup.receive(fd, into: &buffer) {
            case .overrun: overrun = true
            case .none: break reading
            case .datagram(let n, let fromKernel):
                if fromKernel { parser.parse(buffer[..<n]) }
            }
        }
        return (Array(parser.entries.prefix(Neighbours.limit)), overrun)
    }
}
