import Testing
import PortFwdCore
import TestSupport

/// `firstUTF8Range(of:)` stands in for `firstRange(of:)` where the tool looks for ASCII text,
/// and `replacingFirst` is built on it: the same range and the same text, on random haystacks
/// and needles over a small alphabet (so that near misses, repeats and overlaps are common),
/// non-ASCII text around them included.
@Suite struct StringSearchTests {
    @Test func theSameRangeAsTheStandardLibrarysSearch() {
        var g = ReaderShapes()
        print("StringSearchTests seed \(g.seed) (READERS_SEED=\(g.seed) replays it)")
        let hayPieces = ["a", "b", "ab", "é", "\u{1F600}", " ", "--comment ", "No such file"]
        let needlePieces = ["a", "b", "ab", " ", "--comment ", "No such file"]
        var found = 0
        for round in 0..<2_000 {
            let hay = (0..<g.below(12)).map { _ in g.pick(hayPieces) }.joined()
            let needle = (0..<(1 + g.below(3))).map { _ in g.pick(needlePieces) }.joined()
            let expected = hay.firstRange(of: needle)
            let got = hay.firstUTF8Range(of: needle)
            #expect(got == expected, "seed \(g.seed) round \(round): \(hay.debugDescription) / \(needle.debugDescription)")
            #expect(hay.containsUTF8(needle) == (expected != nil))
            #expect(hay.dropFirst().firstUTF8Range(of: needle) == hay.dropFirst().firstRange(of: needle))
            let replaced = expected.map { String(hay[..<$0.lowerBound]) + "<X>" + String(hay[$0.upperBound...]) } ?? hay
            #expect(hay.replacingFirst(needle, with: "<X>") == replaced)
            if expected != nil { found += 1 }
        }
        #expect(found > 200 && found < 1_800, "\(found) of 2000 found: the cases do not test both sides")
        #expect("abc".firstUTF8Range(of: "") == "abc".startIndex..<"abc".startIndex)
    }
}
