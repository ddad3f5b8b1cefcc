import CLinux
#if canImport(Glibc)
import Glibc
#endif
import PortFwdCore

/// Questions put to nf_tables over netlink directly, where libnftables would cost more than the
/// answer: each libnftables command parses its text and sets up its cache (about half a
/// million instructions), and a listing that touches a table fetches all its set elements.
/// Whether a table or chain exists is one request and one small answer.
public enum NftNetlink {
    /// netfilter's protocol families (NFPROTO_* of linux/netfilter.h, kernel ABI), by the name
    /// nft gives them. The header itself clashes with glibc's in a Swift module.
    static let families: [String: UInt8] = ["inet": 1, "ip": 2, "arp": 3, "netdev": 5, "bridge": 7, "ip6": 10]

    /// The netlink message type of an nf_tables message.
    static func type(_ message: nf_tables_msg_types) -> Int { Int(NFNL_SUBSYS_NFTABLES) << 8 | Int(message.rawValue) }

    /// A request of `message` about `table`, naming objects by `names` (attribute type, name);
    /// nil for a family netfilter has no number for, or a name longer than the kernel allows.
    static func request(_ message: nf_tables_msg_types, table: NftTableID, _ names: [(UInt16, String)], sequence: UInt32,
                        dump: Bool = true) -> [UInt8]? {
        guard let family = families[table.family], names.allSatisfy({ $0.1.utf8.count < 256 }) else { return nil }
        // struct nfgenmsg: family, version, resource id (big-endian, 0).
        var body: [UInt8] = [family, UInt8(NFNETLINK_V0), 0, 0]
        for (type, name) in names { append(&body, type: type, Array(name.utf8) + [0]) }
        return NetlinkDump.request(type: UInt16(Self.type(message)), sequence: sequence, body: body, dump: dump)
    }

    static func append(_ bytes: inout [UInt8], type: UInt16, _ value: [UInt8]) {
        let length = 4 + value.count
        bytes += [UInt8(length & 0xff), UInt8(length >> 8), UInt8(type & 0xff), UInt8(type >> 8)] + value
        bytes += [UInt8](repeating: 0, count: (4 - length % 4) % 4)
    }

    /// The errno of an NLMSG_ERROR body (struct nlmsgerr: a negative errno first, 0 for an
    /// acknowledgement); EPROTO when it is too short to say.
    static func errno(_ body: ArraySlice<UInt8>) -> Int32 {
        body.count >= 4 ? 0 &- Int32(bitPattern: NetfilterMessages.u32(body, body.startIndex)) : EPROTO
    }

    /// Whether `table`, or its chain `chain`, exists in this thread's network namespace.
    /// Throws `.permission` without CAP_NET_ADMIN, `.unavailable` when no answer came.
    public static func exists(_ table: NftTableID, chain: String? = nil) throws(PortFwdError) -> Bool {
        let what = chain.map { "chain \($0) of table \(table)" } ?? "table \(table)"
        let request = chain.map { chain in
            Self.request(NFT_MSG_GETCHAIN, table: table, [(UInt16(NFTA_CHAIN_TABLE.rawValue), table.name),
                                                          (UInt16(NFTA_CHAIN_NAME.rawValue), chain)], sequence: 1, dump: false)
        } ?? Self.request(NFT_MSG_GETTABLE, table: table, [(UInt16(NFTA_TABLE_NAME.rawValue), table.name)], sequence: 1, dump: false)
        guard let request else { throw PortFwdError(.invalidInput, "cannot ask the kernel for \(what)") }
        let answer = chain == nil ? type(NFT_MSG_NEWTABLE) : type(NFT_MSG_NEWCHAIN)
        var found: Bool?, refusal: Int32 = 0
        let outcome = NetlinkDump.exchange(protocol: NETLINK_NETFILTER, requests: [request]) { _, datagram in
            var offset = datagram.startIndex
            // The first whole message is the answer: the object, or an error.
            guard datagram.endIndex - offset >= 16 else { return false }
            let length = Int(NetfilterMessages.u32(datagram, offset)), type = Int(NetfilterMessages.u16(datagram, offset + 4))
            guard length >= 16, length <= datagram.endIndex - offset else { return false }
            offset += 16
            if type == answer { found = true }
            if type == Int(NLMSG_ERROR) {
                refusal = errno(datagram[offset..<(offset + length - 16)])
                found = false
            }
            return found != nil
        }
        guard outcome == .complete, let found else { throw PortFwdError(.unavailable, "\(what): the kernel's answer could not be read") }
        if !found, refusal != ENOENT {
            throw PortFwdError(refusal == EPERM ? .permission : .unavailable, "\(what): the kernel refused the question (errno \(refusal))")
        }
        return found
    }
}
