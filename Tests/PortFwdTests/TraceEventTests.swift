import Foundation
import Testing
@testable import PortFwd
import PortFwdCore
import PortFwdSystem

/// nftables' trace events, parsed from the bytes the kernel sends: the fields `trace` prints,
/// and nothing out of bounds whatever arrives.
@Suite struct TraceEventTests {
    /// One netlink attribute: length, type, value, padded to 4.
    static func attribute(_ type: Int, _ value: [UInt8]) -> [UInt8] {
        let length = 4 + value.count
        var bytes = [UInt8(length & 0xff), UInt8(length >> 8), UInt8(type & 0xff), UInt8(type >> 8)] + value
        while bytes.count % 4 != 0 { bytes.append(0) }
        return bytes
    }

    static func be32(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8((v >> 16) & 0xff), UInt8((v >> 8) & 0xff), UInt8(v & 0xff)] }
    static func text(_ s: String) -> [UInt8] { Array(s.utf8) + [0] }

    /// A trace message as the kernel writes it: nlmsghdr, nfgenmsg, attributes.
    static func message(family: UInt8, _ attributes: [UInt8]) -> [UInt8] {
        let type = (10 << 8) | 17   // NFNL_SUBSYS_NFTABLES, NFT_MSG_TRACE
        let length = 16 + 4 + attributes.count
        var bytes: [UInt8] = [UInt8(length & 0xff), UInt8(length >> 8), 0, 0, UInt8(type & 0xff), UInt8(type >> 8), 0, 0]
        bytes += [UInt8](repeating: 0, count: 8)
        bytes += [family, 0, 0, 0]
        return bytes + attributes
    }

    @Test func aPolicyDropIsRead() throws {
        let verdict = Self.attribute(1, Self.be32(0))     // NFTA_VERDICT_CODE: NF_DROP
        let header: [UInt8] = [0x45, 0, 0, 60, 0, 0, 0x40, 0, 64, 6, 0, 0, 198, 51, 100, 2, 192, 168, 122, 10]
        let transport: [UInt8] = [0x9c, 0x40, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02]
        let bytes = Self.message(family: 1, Self.attribute(1, Self.text("filter")) + Self.attribute(2, Self.text("forward"))
            + Self.attribute(4, Self.be32(1)) + Self.attribute(0x8005, verdict) + Self.attribute(6, Self.be32(0xabcd))
            + Self.attribute(8, header) + Self.attribute(9, transport) + Self.attribute(10, Self.be32(7)) + Self.attribute(16, Self.be32(0)))
        let events = TraceEvent.parse(bytes[...])
        #expect(events.count == 1)
        let e = try #require(events.first)
        #expect(e.id == 0xabcd && e.familyName == "inet" && e.table == "filter" && e.chain == "forward")
        #expect(e.kind == .policy && e.decision == .drop && e.iif == 7)
        #expect(PacketHeader.summary(e) { $0 == 7 ? "c1" : nil } == "tcp 198.51.100.2:40000 > 192.168.122.10:80 [SYN], in c1")
    }

    @Test func aJumpCarriesItsChain() throws {
        let verdict = Self.attribute(1, Self.be32(UInt32(bitPattern: -3))) + Self.attribute(2, Self.text("LIBVIRT_FWI"))
        let bytes = Self.message(family: 2, Self.attribute(1, Self.text("filter")) + Self.attribute(2, Self.text("FORWARD"))
            + Self.attribute(3, Self.be32(0) + Self.be32(12)) + Self.attribute(4, Self.be32(3)) + Self.attribute(0x8005, verdict)
            + Self.attribute(6, Self.be32(1)))
        let e = try #require(TraceEvent.parse(bytes[...]).first)
        #expect(e.familyName == "ip" && e.handle == 12 && e.kind == .rule && e.decision == .jump("LIBVIRT_FWI"))
    }

    /// Whatever arrives (cut short, lengths that lie, random bytes), the parse ends without
    /// reading past what was received.
    @Test func anyBytesAreReadSafely() {
        var rng = SplitMix.printed("TraceEventTests.anyBytesAreReadSafely")
        let good = Self.message(family: 1, Self.attribute(1, Self.text("t")) + Self.attribute(2, Self.text("c"))
            + Self.attribute(4, Self.be32(3)) + Self.attribute(6, Self.be32(1)))
        for _ in 0..<5000 {
            var bytes = good
            for _ in 0..<Int.random(in: 1...6, using: &rng) { bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255,
                using: &rng) }
            bytes = Array(bytes.prefix(Int.random(in: 0...bytes.count, using: &rng)))
            _ = TraceEvent.parse(bytes[...])
            _ = TraceEvent.parse((0..<Int.random(in: 0...64, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }[...])
        }
    }
}

/// Bridge names, matched exactly in both backends' syntax, whatever they hold: never a
/// wildcard that misses the bridge (an isolated network left open), and exact wherever the
/// syntax can say it.
@Suite struct InterfaceMatchTests {
    /// How nft reads the quoted name: a trailing `*` is a prefix wildcard, `\*` the character.
    func nftMatches(_ quoted: String, _ name: String) -> Bool {
        let inner = String(quoted.dropFirst().dropLast())
        if inner.hasSuffix("\\*") { return name == String(inner.dropLast(2)) + "*" }
        if inner.hasSuffix("*") { return name.hasPrefix(String(inner.dropLast())) }
        return name == inner
    }

    /// How iptables reads `-i`: a trailing `+` is a prefix wildcard.
    func iptablesMatches(_ word: String, _ name: String) -> Bool {
        word.hasSuffix("+") ? name.hasPrefix(String(word.dropLast())) : name == word
    }

    @Test func everyNameIsCoveredAndExactWhereItCanBe() {
        var rng = SplitMix.printed("TraceEventTests.everyNameIsCoveredAndExactWhereItCanBe")
        let alphabet = Array("abcxyz019-_.+*\"\\'é@%#")
        for _ in 0..<5000 {
            let name = String((0..<Int.random(in: 1...15, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! })
            guard InterfaceName.isLinuxName(name) else { continue }
            let nft = InterfaceMatch.nft(name), ipt = InterfaceMatch.iptables(name)
            #expect(nftMatches(nft, name), "nft \(nft) misses \(name)")
            #expect(iptablesMatches(ipt, name), "iptables \(ipt) misses \(name)")
            #expect(!nft.dropFirst().dropLast().contains("\""), "a quote inside nft's string: \(nft)")
            if !name.contains("\""), !name.hasSuffix("\\*") { #expect(!nftMatches(nft, name + "x"), "nft \(nft) is a wildcard for \(name)") }
            if !name.hasSuffix("+"), !name.contains("\""), !name.contains("\\") { #expect(ipt == name) }
        }
        #expect(InterfaceMatch.nft("iso+net") == "\"iso+net\"" && InterfaceMatch.iptables("iso+net") == "iso+net")
        #expect(InterfaceMatch.nft("lan*") == "\"lan\\*\"")
        #expect(!InterfaceName.isLinuxName("a b") && !InterfaceName.isLinuxName("a/b") && !InterfaceName.isLinuxName("..")
                && !InterfaceName.isLinuxName(String(repeating: "a", count: 16)))
    }
}
