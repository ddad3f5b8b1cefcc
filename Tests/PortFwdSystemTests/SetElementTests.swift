import Foundation
import Testing
import PortFwdCore
@testable import PortFwdSystem

/// The netlink reader of set elements (`SetElementMessages`) on the kernel's own bytes: an
/// answer captured from Linux 6.1 for two of our count sets, one a hash and one an interval
/// set of concatenations, then cut and corrupted.
struct SetElementMessageTests {
    static func bytes(_ hex: String) -> [UInt8] {
        var out: [UInt8] = [], digits = Array(hex.utf8)
        while digits.count >= 2 { out.append(UInt8(String(decoding: digits.prefix(2), as: UTF8.self), radix: 16)!); digits.removeFirst(2) }
        return out
    }

    /// `fwd4_any { tcp . 8080 counter packets 5 bytes 300 comment "abc", udp . 53 }`, then an
    /// empty message and NLMSG_DONE in a second datagram.
    static let any = [bytes("bc0000000c0a020001000000b91f00000100000206000100740000000d000200667764345f616e7900000000900003004000010010000100"
        + "0c00010011000000003500002c0007000c000100636f756e746572001c0002000c00010000000000000000000c0002000000000000000000"
        + "4c000100100001000c000100060000001f9000002c0007000c000100636f756e746572001c0002000c000100000000000000012c0c000200"
        + "00000000000000050a0006000004616263000000"),
                      bytes("300000000c0a020001000000b91f00000100000206000100740000000d000200667764345f616e7900000000040003001400000003000200"
        + "01000000b91f000000000000")]
    /// `fwd4_ranges { 0.0.0.0/0 . tcp . 10000-10009 counter packets 7 bytes 70 comment "r1",
    /// 192.0.2.1 . udp . 5000-5001 comment "r2" }`.
    static let ranges = [bytes("f80000000c0a020001000000e31f000001000002060001007400000010000200667764345f72616e67657300cc0003006400010014000100"
        + "1000010000000000060000002710000014000a0010000100ffffffff06000000271900002c0007000c000100636f756e746572001c000200"
        + "0c00010000000000000000460c0002000000000000000007090006000003723100000000640001001400010010000100c000020111000000"
        + "1388000014000a0010000100c000020111000000138900002c0007000c000100636f756e746572001c0002000c0001000000000000000000"
        + "0c0002000000000000000000090006000003723200000000"),
                         bytes("300000000c0a020001000000e31f000001000002060001007400000010000200667764345f72616e67657300040003001400000003000200"
        + "01000000e31f000000000000")]

    struct Read: Hashable { let element: NftElement; let counter: Counts?; let comment: String? }

    static func read(_ datagrams: [[UInt8]], key: [NftField]) -> (elements: [Read], done: Bool) {
        var parser = SetElementMessages(key: key)
        for d in datagrams where !parser.done { _ = parser.take(d[...]) }
        return (parser.elements.map { Read(element: $0, counter: $0.counter, comment: $0.comment) }, parser.done)
    }

    @Test func theKernelsAnswerReadsAsTypedElements() {
        let anyKey = CountSet(.dnat, .ipv4, .any).key, rangesKey = CountSet(.dnat, .ipv4, .ranges).key
        let any = Self.read(Self.any, key: anyKey)
        #expect(any.done)
        #expect(any.elements == [
            Read(element: NftElement([.proto(.udp), .ports(PortRange(port: 53)!)]), counter: .zero, comment: nil),
            Read(element: NftElement([.proto(.tcp), .ports(PortRange(port: 8080)!)]), counter: Counts(packets: 5, bytes: 300), comment: "abc"),
        ])
        let ranges = Self.read(Self.ranges, key: rangesKey)
        #expect(ranges.done)
        #expect(ranges.elements == [
            Read(element: NftElement([.network(.any(.ipv4)), .proto(.tcp), .ports(PortRange(10000, 10009)!)]),
                 counter: Counts(packets: 7, bytes: 70), comment: "r1"),
            Read(element: NftElement([.address(IPAddress("192.0.2.1")!), .proto(.udp), .ports(PortRange(5000, 5001)!)]),
                 counter: .zero, comment: "r2"),
        ])
        // Read by fields that do not describe the key, nothing is guessed.
        #expect(Self.read(Self.any, key: rangesKey).elements.allSatisfy {
            if case .unreadable = $0.element.key.first { return $0.element.key.count == 1 } else { return false }
        })
        // The kernel's refusal is kept, and ends the answer.
        var refused = SetElementMessages(key: anyKey)
        let ended = refused.take(Self.bytes("14000000020000000100000000000000feffffff")[...])
        #expect(ended)
        #expect(refused.refusal == 2)
    }

    /// What another root program could plant, read as nft reads it or not at all: a key with a
    /// byte in its padding (another element to the kernel) is unreadable; of two comments the
    /// last counts, and a comment without its NUL or a record past the end is no comment; an
    /// errno of Int32.min ends the answer; a key a set holds twice carries no counters.
    @Test func plantedElementsAreNotTakenForOurs() throws {
        let key = CountSet(.dnat, .ipv4, .any).key
        // The first element's key is `11000000 00350000` (udp . 53): a byte in its padding.
        var padded = Self.any[0]
        let at = try #require(Self.find([0x11, 0, 0, 0, 0, 0x35, 0, 0], in: padded))
        padded[at + 1] = 0xaa
        let read = Self.read([padded, Self.any[1]], key: key).elements
        #expect(read.count == 2)
        #expect(read.first.map { if case .unreadable = $0.element.key.first { true } else { false } } == true, "\(read)")
        #expect(read.last?.element == NftElement([.proto(.tcp), .ports(PortRange(port: 8080)!)]))

        func tlv(_ type: UInt8, _ bytes: [UInt8]) -> [UInt8] { [type, UInt8(bytes.count)] + bytes }
        let a = Array("ownerA".utf8) + [0], b = Array("ownerB".utf8) + [0]
        #expect(SetElementMessages.comment((tlv(0, a) + tlv(0, b))[...]) == "ownerB")
        #expect(SetElementMessages.comment((tlv(0, a) + tlv(1, [1, 2]))[...]) == "ownerA")
        #expect(SetElementMessages.comment(tlv(0, Array("ownerC".utf8))[...]) == nil)
        #expect(SetElementMessages.comment((tlv(0, a) + [0, 9, 1])[...]) == nil)
        #expect(SetElementMessages.comment([][...]) == nil)

        var parser = SetElementMessages(key: key)
        let ended = parser.take(Self.bytes("14000000020000000100000000000000" + "00000080")[...])
        #expect(ended && parser.refusal == Int32.min)

        let port = NftValue.ports(PortRange(port: 8080)!)
        let twice = NftTable(sets: [NftSet(name: "fwd4_any", key: key, counter: true, elements: [
            NftElement([.proto(.tcp), port], counter: Counts(packets: 5, bytes: 300), comment: "legit"),
            NftElement([.proto(.tcp), port], counter: Counts(packets: 999, bytes: 888), comment: "planted"),
            NftElement([.proto(.udp), port], counter: Counts(packets: 1, bytes: 2), comment: "other"),
        ])])
        #expect(twice.counters == [ForwardKey(family: .ipv4, hostAddress: nil, proto: .udp, hostPorts: PortRange(port: 8080)!):
                                    ForwardCounters(owner: "other", dnat: Counts(packets: 1, bytes: 2), delivered: nil)])
    }

    static func find(_ needle: [UInt8], in hay: [UInt8]) -> Int? {
        hay.indices.first { hay[$0...].starts(with: needle) }
    }

    /// Every cut of the answer reads as a prefix of the whole, never past what arrived; every
    /// corruption reads without a crash, within what its bytes could hold.
    @Test func cutAndCorruptedAnswersStayBounded() {
        var rng = SplitMix.printed("SetElementMessageTests.cutAndCorruptedAnswersStayBounded")
        for (datagrams, set) in [(Self.any, CountSet(.dnat, .ipv4, .any)), (Self.ranges, CountSet(.dnat, .ipv4, .ranges))] {
            let whole = Self.read(datagrams, key: set.key).elements
            for cut in 0..<datagrams[0].count {
                let read = Self.read([Array(datagrams[0].prefix(cut))], key: set.key)
                #expect(!read.done)
                #expect(read.elements.isEmpty || read.elements == whole, "cut at \(cut)")
            }
            for _ in 0..<2000 {
                var first = datagrams[0]
                for _ in 0..<Int.random(in: 1...4, using: &rng) {
                    first[Int.random(in: 0..<first.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
                }
                let read = Self.read([first, datagrams[1]], key: set.key)
                #expect(read.elements.count <= first.count / 12, "an element takes 12 bytes at least")
            }
        }
    }

    /// The prefix of a range of addresses, against the networks it is the whole of.
    @Test func anAddressRangeIsAPrefixOnlyWhenItIsAWholeNetwork() {
        var rng = SplitMix.printed("SetElementMessageTests.anAddressRangeIsAPrefixOnlyWhenItIsAWholeNetwork")
        for _ in 0..<2000 {
            let family: Family = Bool.random(using: &rng) ? .ipv4 : .ipv6
            let bytes = (0..<(family == .ipv4 ? 4 : 16)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let length = Int.random(in: 0...family.bits, using: &rng)
            let network = Network(masking: IPAddress(family: family, bytes: bytes), prefix: length)
            let low = network.address.bytes
            let high = zip(low, (0..<low.count).map { i in UInt8(truncatingIfNeeded: 0xff >> max(0, min(8, length - i * 8))) }).map { $0 | $1 }
            #expect(SetElementMessages.prefix(low, high) == length, "\(network)")
            // One bit less or more at the top is no network, but at the boundaries of a /0.
            var wrong = high
            let bit = Int.random(in: 0..<(low.count * 8), using: &rng)
            wrong[bit / 8] ^= 0x80 >> UInt8(bit % 8)
            if let p = SetElementMessages.prefix(low, wrong) {
                let other = Network(masking: IPAddress(family: family, bytes: low), prefix: p)
                #expect(other.address.bytes == low && p != length, "\(network) against \(wrong)")
            }
        }
    }
}

/// The netlink reader against libnftables' JSON, on one real kernel: for random count sets of
/// every family and kind, with random counters up to 2^64 - 1 and random comments, both read
/// the same elements, counters and comments.
@Suite(.privileged, .serialized) struct RootSetElementTests {
    @Test func theDumpReadsWhatLibnftablesLists() throws {
        var rng = SplitMix.printed("RootSetElementTests.theDumpReadsWhatLibnftablesLists")
        let t = NftTableID("inet", "counted")
        let v4 = ["192.0.2.1", "198.51.100.7", "203.0.113.255", "0.0.0.1"], v6 = ["2001:db8::1", "fe80::1", "::1", "2001:db8:ffff::"]
        func address(_ family: Family) -> IPAddress { IPAddress((family == .ipv4 ? v4 : v6).randomElement(using: &rng)!)! }
        func ports(_ range: Bool) -> PortRange {
            let low = UInt16.random(in: 1...65000, using: &rng)
            return PortRange(low, range ? low + UInt16.random(in: 1...500, using: &rng) : low)!
        }
        func count() -> UInt64 { [0, 1, UInt64.max, 1 << 63, UInt64.random(in: 0...UInt64.max, using: &rng)].randomElement(using: &rng)! }
        func comment() -> String? {
            let alphabet = Array("0123456789abcdefABCXYZ-_ .")
            guard Bool.random(using: &rng) else { return nil }
            return String((0..<Int.random(in: 1...100, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! })
        }
        var rounds: [[NftSet]] = []
        for round in 0..<20 {
            var sets: [NftSet] = []
            for set in CountSet.all {
                var seen = Set<ForwardKey>(), elements: [NftElement] = []
                for _ in 0..<Int.random(in: 0...(round == 0 ? 0 : 40), using: &rng) {
                    let key: ForwardKey
                    switch set.kind {
                    case .any: key = ForwardKey(family: set.family, hostAddress: nil, proto: Proto.allCases.randomElement(using: &rng)!,
                                                hostPorts: ports(false))
                    case .bound: key = ForwardKey(family: set.family, hostAddress: address(set.family), proto: .tcp, hostPorts: ports(false))
                    case .ranges: key = ForwardKey(family: set.family, hostAddress: Bool.random(using: &rng) ? nil : address(set.family),
                                                   proto: Proto.allCases.randomElement(using: &rng)!, hostPorts: ports(true))
                    }
                    // An interval set refuses overlapping elements: keep the ports apart.
                    let overlaps = seen.contains { $0.hostPorts.lower <= key.hostPorts.upper && key.hostPorts.lower <= $0.hostPorts.upper }
                    if overlaps { continue }
                    seen.insert(key)
                    elements.append(NftElement(key.values, counter: Counts(packets: count(), bytes: count()), comment: comment()))
                }
                sets.append(NftSet(name: set.name, key: set.key, interval: set.kind == .ranges, counter: true, elements: elements))
            }
            rounds.append(sets)
        }
        let tables = rounds
        try IsolatedNetwork.run {
            let nft = LibNftables()
            for sets in tables {
                try nft.commit(.addTable(t, nil), .delete(.table(t)), .addTable(t, NftTable(sets: sets)))
                for set in sets {
                    let listed = try NftJSON.table(try nft.list(.set(t, set.name))).set(set.name)?.elements ?? []
                    let dumped = try SetElements.read(t, set: set.name, key: set.key)
                    func whole(_ e: [NftElement]) -> Set<SetElementMessageTests.Read> {
                        Set(e.map { SetElementMessageTests.Read(element: $0, counter: $0.counter, comment: $0.comment) })
                    }
                    #expect(dumped.count == set.elements.count, "\(set.name)")
                    // On failure, only the elements the two readers disagree on.
                    #expect(whole(dumped).symmetricDifference(whole(listed)).isEmpty, "\(set.name)")
                    #expect(whole(dumped).symmetricDifference(whole(set.elements)).isEmpty, "\(set.name): what was written")
                    #expect(dumped.allSatisfy { !$0.key.contains { if case .unreadable = $0 { true } else { false } } })
                }
            }
            let error = expectError(PortFwdError.self) { _ = try SetElements.read(t, set: "nope", key: [.proto, .service]) }
            #expect(error?.code == .notFound)
            let noTable = expectError(PortFwdError.self) { _ = try SetElements.read(.ours, set: "fwd4_any", key: [.proto, .service]) }
            #expect(noTable?.code == .notFound)
        }
    }

    /// Whether a table or chain exists, asked over netlink, against what libnftables lists:
    /// present, absent, a chain of a table that is not there, and a family nft has no name for.
    @Test func existenceIsWhatLibnftablesLists() throws {
        try IsolatedNetwork.run {
            let nft = LibNftables()
            let t = NftTableID("ip", "present"), missing = NftTableID("ip6", "present")
            try nft.commit(.addTable(t, NftTable(chains: [NftChain(name: "c", rules: [])])))
            for (table, chain) in [(t, nil), (t, "c"), (t, "nope"), (missing, nil), (missing, "c"), (NftTableID("inet", "present"), nil)] {
                let listed: Bool
                do throws(PortFwdError) { _ = try nft.list(chain.map { .chain(table, $0) } ?? .table(table)); listed = true } catch {
                    #expect(error.code == .notFound)
                    listed = false
                }
                #expect(try nft.exists(table, chain: chain) == listed, "\(table) \(chain ?? "")")
            }
            #expect(try nft.exists(t, chain: "c") && !(try nft.exists(missing, chain: nil)), "both answers are seen")
            let error = expectError(PortFwdError.self) { _ = try NftNetlink.exists(NftTableID("nofamily", "x")) }
            #expect(error?.code == .invalidInput)
        }
    }
}
