import Testing
@testable import PortFwdSystem

/// netfilter's notifications, parsed with every length checked: no input can trap.
@Suite struct NetfilterMessagesTests {
    static func message(type: Int, _ body: [UInt8], length: Int? = nil) -> [UInt8] {
        let total = length ?? 16 + body.count
        var m: [UInt8] = []
        for v in [UInt32(total)] { m += withUnsafeBytes(of: v.littleEndian, Array.init) }
        m += withUnsafeBytes(of: UInt16(type).littleEndian, Array.init) + [0, 0] + [UInt8](repeating: 0, count: 8)
        return m + body
    }

    static func attribute(_ type: Int, _ payload: [UInt8]) -> [UInt8] {
        let length = 4 + payload.count
        return withUnsafeBytes(of: UInt16(length).littleEndian, Array.init) + withUnsafeBytes(of: UInt16(type).littleEndian, Array.init)
            + payload + [UInt8](repeating: 0, count: (4 - length % 4) % 4)
    }

    static let newgen = (10 << 8) | 15  // NFT_MSG_NEWGEN
    static let newtable = (10 << 8) | 0

    @Test func aCommitIsReadWithItsProcess() {
        var parser = NetfilterMessages()
        let table = Self.message(type: Self.newtable, [2, 0, 0, 0] + Self.attribute(1, Array("libvirt_portfwd\0".utf8)))
        let gen = Self.message(type: Self.newgen, [2, 0, 0, 0] + Self.attribute(2, [0, 0, 0x30, 0x39]) + Self.attribute(3, Array("nft\0".utf8)))
        #expect(parser.parse(ArraySlice(table + gen)) == [.init(pid: 12345, process: "nft", relevant: true)])
    }

    /// The 16-byte message that trapped, lengths that lie, attributes too short or too long,
    /// and random bytes: parsed without a trap.
    @Test func hostileMessagesNeverTrap() {
        var parser = NetfilterMessages()
        let cases: [[UInt8]] = [
            Self.message(type: Self.newgen, []),
            Self.message(type: Self.newgen, [0]),
            Self.message(type: Self.newgen, [], length: 0xffff),
            Self.message(type: Self.newgen, [2, 0, 0, 0] + [5, 0, 2, 0, 1]),
            Self.message(type: Self.newgen, [2, 0, 0, 0] + [200, 0, 3, 0, 0x61, 0x62]),
            Self.message(type: Self.newgen, [2, 0, 0, 0] + Self.attribute(2, [1])),
            [0xff, 0xff, 0xff, 0xff],
        ]
        for c in cases { _ = parser.parse(ArraySlice(c)) }
        var rng = SplitMix(seed: 42)
        for _ in 0..<20_000 {
            let n = Int(rng.next() % 64)
            var bytes = (0..<n).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            if n >= 6 && rng.next() % 2 == 0 { bytes[4] = 15; bytes[5] = 10 }
            _ = parser.parse(ArraySlice(bytes))
        }
        // A process name with controls never reaches a log line as such.
        let gen = Self.message(type: Self.newgen, [2, 0, 0, 0] + Self.attribute(3, Array("a\u{1B}[31m\n\0".utf8)))
        #expect(parser.parse(ArraySlice(gen)).first?.process == "a?[31m?")
    }
}
