import CLinux
import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif
import PortFwdCore

/// nftables' trace events (netlink group NFNLGRP_NFTRACE), read directly: for every packet
/// whose `meta nftrace` is set, the kernel announces each rule that decided something, each
/// return from a chain and each base chain's policy, in every table and family, iptables-nft's
/// included. Only the kernel's messages are read; every length is checked before use.
public final class TraceEvents {
    public let fd: Int32

    public init() throws(PortFwdError) {
        fd = try NetlinkGroup.subscribe(protocol: NETLINK_NETFILTER, group: NFNLGRP_NFTRACE.rawValue, buffer: 4 << 20, what: "nftables' trace events")
    }

    deinit { close(fd) }

    /// Everything readable now; `overrun` when the kernel dropped events (ENOBUFS).
    public func drain() -> (events: [TraceEvent], overrun: Bool) {
        var events: [TraceEvent] = []
        var overrun = false
        var buffer = NetlinkGroup.datagramBuffer()
        reading: while true {
            switch NetlinkGroup.receive(fd, into: &buffer) {
            case .overrun: overrun = true
            case .none: break reading
            case .datagram(let n, let fromKernel):
                if fromKernel { events += TraceEvent.parse(buffer[..<n]) }
            }
        }
        return (events, overrun)
    }
}

/// One trace event: which packet (`id`), where (table, chain, rule), and what was decided.
public struct TraceEvent: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// A rule matched; `verdict` is what it decided (continue, for one without a verdict).
        case rule
        /// The end of a regular chain, back to the one that jumped.
        case `return`
        /// The end of a base chain: its policy decided.
        case policy
    }

    public enum Decision: Sendable, Equatable {
        case accept, drop, `continue`, `return`, queue, stolen
        case jump(String), goto(String)
        case other(Int32)

        init(code: Int32, chain: String?) {
            switch code {
            case -1: self = .continue
            case -2: self = .continue     // NFT_BREAK
            case -3: self = .jump(chain ?? "?")
            case -4: self = .goto(chain ?? "?")
            case -5: self = .return
            default:
                // Verdicts may carry an errno in their upper bits (NF_DROP_ERR).
                switch code >= 0 ? code & 0xff : code {
                case 0: self = .drop
                case 1: self = .accept
                case 2: self = .stolen
                case 3: self = .queue
                default: self = .other(code)
                }
            }
        }
    }

    public let id: UInt32
    /// The table's family, as nfgenmsg carries it: 1 inet, 2 ip, 10 ip6, 5 netdev, 7 bridge.
    public let family: UInt8
    public let table: String
    public let chain: String
    public let handle: UInt64?
    public let kind: Kind
    public let decision: Decision?
    public let iif: UInt32?
    public let oif: UInt32?
    /// The packet's network and transport headers as the kernel saw them at that point.
    public let network: [UInt8]
    public let transport: [UInt8]

    public var familyName: String {
        switch family {
        case 1: return "inet"
        case 2: return "ip"
        case 10: return "ip6"
        case 5: return "netdev"
        case 7: return "bridge"
        case 3: return "arp"
        default: return "family \(family)"
        }
    }

    static let subsysNftables = Int(NFNL_SUBSYS_NFTABLES)
    static let trace = Int(NFT_MSG_TRACE.rawValue)

    /// Every trace event in a datagram; a message that does not fit ends the parse.
    public static func parse(_ bytes: ArraySlice<UInt8>) -> [TraceEvent] {
        var events: [TraceEvent] = []
        var offset = bytes.startIndex
        while bytes.endIndex - offset >= NetfilterMessages.headerSize {
            let length = Int(NetfilterMessages.u32(bytes, offset))
            let type = Int(NetfilterMessages.u16(bytes, offset + 4))
            guard length >= NetfilterMessages.headerSize, length <= bytes.endIndex - offset else { break }
            let body = bytes[(offset + NetfilterMessages.headerSize)..<(offset + length)]
            if type >> 8 == subsysNftables, type & 0xff == trace, body.count >= NetfilterMessages.familySize {
                if let event = event(family: body[body.startIndex], NetfilterMessages.attributes(body.dropFirst(NetfilterMessages.familySize))) {
                    events.append(event)
                }
            }
            let step = (length + 3) & ~3
            guard step <= bytes.endIndex - offset else { break }
            offset += step
        }
        return events
    }

    static func event(family: UInt8, _ a: [Int: ArraySlice<UInt8>]) -> TraceEvent? {
        func u32(_ key: Int32) -> UInt32? { a[Int(key)].flatMap { $0.count >= 4 ? NetfilterMessages.be32($0, $0.startIndex) : nil } }
        guard let id = u32(Int32(NFTA_TRACE_ID.rawValue)), let type = u32(Int32(NFTA_TRACE_TYPE.rawValue)) else { return nil }
        let kind: Kind
        switch type {
        case 1: kind = .policy
        case 2: kind = .return
        case 3: kind = .rule
        default: return nil
        }
        var decision: Decision?
        if let nested = a[Int(NFTA_TRACE_VERDICT.rawValue)] {
            let v = NetfilterMessages.attributes(nested)
            if let code = v[Int(NFTA_VERDICT_CODE.rawValue)], code.count >= 4 {
                decision = Decision(code: Int32(bitPattern: NetfilterMessages.be32(code, code.startIndex)),
                                    chain: v[Int(NFTA_VERDICT_CHAIN.rawValue)].map(NetfilterMessages.text))
            }
        }
        if kind == .policy, let policy = u32(Int32(NFTA_TRACE_POLICY.rawValue)) { decision = Decision(code: Int32(bitPattern: policy), chain: nil) }
        var handle: UInt64?
        if let h = a[Int(NFTA_TRACE_RULE_HANDLE.rawValue)], h.count >= 8 {
            handle = UInt64(NetfilterMessages.be32(h, h.startIndex)) << 32 | UInt64(NetfilterMessages.be32(h, h.startIndex + 4))
        }
        return TraceEvent(id: id, family: family, table: a[Int(NFTA_TRACE_TABLE.rawValue)].map(NetfilterMessages.text) ?? "?",
                          chain: a[Int(NFTA_TRACE_CHAIN.rawValue)].map(NetfilterMessages.text) ?? "?", handle: handle, kind: kind, decision: decision,
                          iif: u32(Int32(NFTA_TRACE_IIF.rawValue)), oif: u32(Int32(NFTA_TRACE_OIF.rawValue)),
                          network: Array(a[Int(NFTA_TRACE_NETWORK_HEADER.rawValue)] ?? []).prefix(64).map { $0 },
                          transport: Array(a[Int(NFTA_TRACE_TRANSPORT_HEADER.rawValue)] ?? []).prefix(64).map { $0 })
    }
}
