import CLinux
#if canImport(Glibc)
import Glibc
#endif
import PortFwdCore

/// A set's elements read from the kernel over netlink: one NFT_MSG_GETSETELEM dump, its answer
/// read as typed attributes. It serves the count sets, whose counters every swap carries over.
///
/// Why not libnftables: to list one set, nft 1.0.6 fills its cache with the whole table and
/// writes every element and its counter as JSON, which we then read back. At 100 forwards that
/// listing cost 38 % of apply's instructions, more than all of `nft -f` did. The dump is one
/// request, and its answer is a few hundred bytes per element.
///
/// Only the kernel's datagrams are read (`NetlinkDump`), and every length is checked before use.
/// A key the set's fields do not describe is read as `.unreadable`, never guessed at.
public struct SetElementMessages: Sendable {
    /// The set's key fields, in order: how its registers are read.
    let key: [NftField]
    public private(set) var elements: [NftElement] = []
    /// The kernel's errno when it refused the dump: ENOENT for no such table or set.
    public private(set) var refusal: Int32?
    /// The kernel said the set changed while it was being dumped (NLM_F_DUMP_INTR): what was
    /// read may lack elements or hold one twice.
    public private(set) var interrupted = false
    /// The answer ended (NLMSG_DONE or NLMSG_ERROR).
    public private(set) var done = false

    public init(key: [NftField]) { self.key = key }

    /// The request for set `name` of `table`; nil for a family netfilter has no number for, or
    /// a name longer than the kernel allows.
    public static func request(table: NftTableID, set name: String, sequence: UInt32) -> [UInt8]? {
        NftNetlink.request(NFT_MSG_GETSETELEM, table: table, [(UInt16(NFTA_SET_ELEM_LIST_TABLE.rawValue), table.name),
                                                               (UInt16(NFTA_SET_ELEM_LIST_SET.rawValue), name)], sequence: sequence)
    }

    /// One datagram of the answer. Returns true once the answer is complete.
    public mutating func take(_ bytes: ArraySlice<UInt8>) -> Bool {
        var offset = bytes.startIndex
        while !done, bytes.endIndex - offset >= 16 {
            let length = Int(NetfilterMessages.u32(bytes, offset)), type = Int(NetfilterMessages.u16(bytes, offset + 4))
            let flags = Int32(NetfilterMessages.u16(bytes, offset + 6))
            guard length >= 16, length <= bytes.endIndex - offset else { break }
            if flags & NLM_F_DUMP_INTR != 0 { interrupted = true }
            let body = bytes[(offset + 16)..<(offset + length)]
            if type == Int(NLMSG_DONE) {
                done = true
            } else if type == Int(NLMSG_ERROR) {
                // struct nlmsgerr: a negative errno first; 0 would be an acknowledgement.
                let errno = NftNetlink.errno(body)
                if errno != 0 { refusal = errno }
                done = true
            } else if type == NftNetlink.type(NFT_MSG_NEWSETELEM), body.count >= 4 {
                NetfilterMessages.forEach(body.dropFirst(4)) { type, value in
                    guard type == Int(NFTA_SET_ELEM_LIST_ELEMENTS.rawValue) else { return }
                    NetfilterMessages.forEach(value) { type, element in
                        if type == Int(NFTA_LIST_ELEM.rawValue), let read = self.element(element) { elements.append(read) }
                    }
                }
            }
            let step = (length + 3) & ~3
            guard step <= bytes.endIndex - offset else { break }
            offset += step
        }
        return done
    }

    /// One NFTA_LIST_ELEM: its key (and key end, in an interval set of concatenations), its
    /// counter and its comment. nil for the end mark of a plain interval set.
    func element(_ bytes: ArraySlice<UInt8>) -> NftElement? {
        var start: ArraySlice<UInt8>?, end: ArraySlice<UInt8>?, counter: Counts?, comment: String?, isEnd = false
        NetfilterMessages.forEach(bytes) { type, value in
            switch UInt32(type) {
            case NFTA_SET_ELEM_KEY.rawValue: start = Self.dataValue(value)
            case NFTA_SET_ELEM_KEY_END.rawValue: end = Self.dataValue(value)
            case NFTA_SET_ELEM_FLAGS.rawValue:
                isEnd = value.count == 4 && Self.be32(value) & UInt32(NFT_SET_ELEM_INTERVAL_END.rawValue) != 0
            case NFTA_SET_ELEM_EXPR.rawValue: counter = Self.counter(value) ?? counter
            case NFTA_SET_ELEM_EXPRESSIONS.rawValue:
                NetfilterMessages.forEach(value) { type, expression in
                    if type == Int(NFTA_LIST_ELEM.rawValue) { counter = Self.counter(expression) ?? counter }
                }
            case NFTA_SET_ELEM_USERDATA.rawValue: comment = Self.comment(value)
            default: break
            }
        }
        guard !isEnd, let start else { return nil }
        return NftElement(Self.values(start, end ?? start, key), counter: counter, comment: comment)
    }

    /// NFTA_DATA_VALUE inside a key's nest: the bytes the kernel keeps.
    static func dataValue(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8>? {
        var found: ArraySlice<UInt8>?
        NetfilterMessages.forEach(bytes) { type, value in if type == Int(NFTA_DATA_VALUE.rawValue) { found = value } }
        return found
    }

    /// A counter expression's packets and bytes; nil for any other expression.
    static func counter(_ bytes: ArraySlice<UInt8>) -> Counts? {
        var name: ArraySlice<UInt8>?, data: ArraySlice<UInt8>?
        NetfilterMessages.forEach(bytes) { type, value in
            if type == Int(NFTA_EXPR_NAME.rawValue) { name = value } else if type == Int(NFTA_EXPR_DATA.rawValue) { data = value }
        }
        guard let name, name.prefix(while: { $0 != 0 }).elementsEqual("counter".utf8), let data else { return nil }
        var packets: UInt64 = 0, bytes: UInt64 = 0
        NetfilterMessages.forEach(data) { type, value in
            guard value.count == 8 else { return }
            if type == Int(NFTA_COUNTER_PACKETS.rawValue) { packets = be64(value) }
            if type == Int(NFTA_COUNTER_BYTES.rawValue) { bytes = be64(value) }
        }
        return Counts(packets: packets, bytes: bytes)
    }

    /// The comment in an element's user data as nft reads it: libnftnl's TLVs (one byte of
    /// type, one of length), the last of type 0 (NFTNL_UDATA_SET_ELEM_COMMENT) winning, and no
    /// comment at all when a comment lacks its NUL or a TLV runs past the end (nft's parse
    /// gives up on the whole). Invalid UTF-8 is repaired: it is compared with owner tokens,
    /// and shown at most.
    static func comment(_ bytes: ArraySlice<UInt8>) -> String? {
        var offset = bytes.startIndex, found: ArraySlice<UInt8>?
        while offset < bytes.endIndex {
            guard bytes.endIndex - offset >= 2 else { return nil }
            let type = bytes[offset], length = Int(bytes[offset + 1])
            guard length <= bytes.endIndex - offset - 2 else { return nil }
            let value = bytes[(offset + 2)..<(offset + 2 + length)]
            if type == 0 {
                guard value.last == 0 else { return nil }
                found = value
            }
            offset += 2 + length
        }
        return found.map { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }

    /// A key's registers read by its fields: each field starts on a 4-byte boundary, and an
    /// interval set's element spans `start` to `end`. Values nft would show as a range the
    /// tool never writes (addresses that are no prefix, a range of protocols) are unreadable.
    static func values(_ start: ArraySlice<UInt8>, _ end: ArraySlice<UInt8>, _ fields: [NftField]) -> [NftValue] {
        func unreadable() -> [NftValue] { [.unreadable("0x" + start.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined())] }
        guard start.count == end.count else { return unreadable() }
        var values: [NftValue] = []
        values.reserveCapacity(fields.count)
        var offset = 0, used = 0
        for field in fields {
            guard let width = field.width, start.count - offset >= width else { return unreadable() }
            let low = start.dropFirst(offset).prefix(width), high = end.dropFirst(offset).prefix(width)
            used = offset + width
            offset += (width + 3) & ~3
            // The kernel compares whole registers, padding included: `tcp . 8080` with a byte
            // set in its padding is another element, which must not read as ours.
            let padding = start.count >= offset ? used..<offset : used..<used
            guard start.dropFirst(padding.lowerBound).prefix(padding.count).allSatisfy({ $0 == 0 }),
                  end.dropFirst(padding.lowerBound).prefix(padding.count).allSatisfy({ $0 == 0 }) else { return unreadable() }
            switch field {
            case .address(let family):
                let a = IPAddress(family: family, bytes: Array(low))
                if low.elementsEqual(high) { values.append(.address(a)); continue }
                guard let prefix = Self.prefix(low, high) else { return unreadable() }
                values.append(.network(Network(masking: a, prefix: prefix)))
            case .proto:
                let number = low[low.startIndex]
                guard number == high[high.startIndex], let proto = Proto.allCases.first(where: { $0.number == Int(number) }) else {
                    return unreadable()
                }
                values.append(.proto(proto))
            case .service:
                let lower = UInt16(low[low.startIndex]) << 8 | UInt16(low[low.startIndex + 1])
                let upper = UInt16(high[high.startIndex]) << 8 | UInt16(high[high.startIndex + 1])
                guard let range = PortRange(lower, upper) else { return unreadable() }
                values.append(.ports(range))
            case .other:
                return unreadable()
            }
        }
        // Every byte accounted for (a concatenation pads its last field too, a single field
        // does not): a key longer than its fields describe is not this set's.
        guard start.count == offset || start.count == used else { return unreadable() }
        return values
    }

    /// The prefix length when `low ... high` is exactly one network (its first and last
    /// address), else nil.
    static func prefix(_ low: some Collection<UInt8>, _ high: some Collection<UInt8>) -> Int? {
        var length = 0, inHost = false
        for (l, h) in zip(low, high) {
            for bit in (0..<8).reversed() {
                let a = l >> bit & 1, b = h >> bit & 1
                if inHost {
                    guard a == 0, b == 1 else { return nil }
                } else if a == b {
                    length += 1
                } else {
                    guard a == 0, b == 1 else { return nil }
                    inHost = true
                }
            }
        }
        return length
    }

    static func be32(_ b: ArraySlice<UInt8>) -> UInt32 { NetfilterMessages.be32(b, b.startIndex) }
    static func be64(_ b: ArraySlice<UInt8>) -> UInt64 { UInt64(be32(b)) << 32 | UInt64(be32(b.dropFirst(4))) }
}

extension NftField {
    /// Bytes of one value in the kernel's registers (before padding to 4); nil for a type the
    /// tool does not read.
    var width: Int? {
        switch self {
        case .address(let family): return family == .ipv4 ? 4 : 16
        case .proto: return 1
        case .service: return 2
        case .other: return nil
        }
    }
}

/// The dump itself, on a socket of the calling thread's network namespace.
public enum SetElements {
    /// The elements of set `name` in `table`, read by `key`. Throws `.notFound` when the kernel
    /// has no such table or set, `.unavailable` when the answer could not be read whole.
    public static func read(_ table: NftTableID, set name: String, key: [NftField]) throws(PortFwdError) -> [NftElement] {
        guard let request = SetElementMessages.request(table: table, set: name, sequence: 1) else {
            throw PortFwdError(.invalidInput, "cannot ask the kernel for set \(name) of table \(table)")
        }
        // A set changed during the dump is read again: a swap carries what it reads.
        for _ in 0..<3 {
            var parser = SetElementMessages(key: key)
            let outcome = NetlinkDump.exchange(protocol: NETLINK_NETFILTER, requests: [request]) { _, datagram in parser.take(datagram) }
            if let errno = parser.refusal {
                if errno == ENOENT { throw PortFwdError(.notFound, "set \(name) of table \(table): no such set") }
                throw PortFwdError(errno == EPERM ? .permission : .unavailable,
                                   "set \(name) of table \(table): the kernel refused the dump (errno \(errno))")
            }
            guard outcome == .complete else { break }
            if !parser.interrupted { return parser.elements }
        }
        throw PortFwdError(.unavailable, "set \(name) of table \(table): the kernel's answer could not be read whole")
    }
}
