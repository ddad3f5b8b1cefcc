import Foundation
import Testing
import PortFwdSystem

/// netfilter's notifications cut at any byte, or with any length field lying: the parse ends,
/// never reads past what it was given (a trap would end the test process), and each commit it
/// finds took a whole message of at least 16 bytes.
@Suite struct NetfilterTruncationTests {
    typealias M = NetfilterMessagesTests

    /// A datagram as big as the kernel sends (64 KiB): table changes and commits, some with
    /// thousands of attributes.
    static func datagram(_ g: inout ReaderShapes) -> (bytes: [UInt8], commits: Int) {
        var bytes: [UInt8] = []
        var commits = 0
        while bytes.count < 60_000 {
            if g.chance(3) {
                bytes += M.message(type: M.newgen, [2, 0, 0, 0] + M.attribute(2, [0, 0, 0x30, 0x39]) + M.attribute(3, Array("nft\0".utf8)))
                commits += 1
            } else {
                let attributes = (0..<(g.chance(10) ? 2_000 : 3)).flatMap { _ in M.attribute(g.pick([1, 2, 3, 0x8001]), Array("filter\0".utf8)) }
                bytes += M.message(type: M.newtable, [2, 0, 0, 0] + attributes)
            }
        }
        return (bytes, commits)
    }

    @Test func anyCutOrLieEndsTheParse() {
        var g = ReaderShapes()
        print("NetfilterTruncationTests seed \(g.seed) (READERS_SEED=\(g.seed) replays it)")
        for round in 0..<20 {
            let (whole, commits) = Self.datagram(&g)
            var parser = NetfilterMessages()
            #expect(parser.parse(ArraySlice(whole)).count == commits, "seed \(g.seed) round \(round)")
            for _ in 0..<200 {
                var bytes = Array(whole.prefix(g.below(whole.count + 1)))
                // A length field somewhere made to lie.
                if g.chance(2), bytes.count >= 4 {
                    let at = g.below(bytes.count - 3)
                    bytes.replaceSubrange(at..<(at + 4), with: g.pick([[0xff, 0xff, 0xff, 0xff], [0, 0, 0, 0], [16, 0, 0, 0], [4, 0, 0, 0],
                        [5, 0, 15, 10]]))
                }
                var fresh = NetfilterMessages()
                let found = fresh.parse(ArraySlice(bytes))
                #expect(found.count <= bytes.count / 16, "seed \(g.seed) round \(round)")
                #expect(found.allSatisfy { $0.process.utf8.allSatisfy { $0 >= 0x20 && $0 < 0x7f } && $0.process.utf8.count <= 64 })
            }
        }
    }
}
