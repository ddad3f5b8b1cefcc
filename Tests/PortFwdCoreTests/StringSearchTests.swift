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

    /// `ASCIIHex.value` reads what the standard library's `UInt64(_:radix:)` reads, but a sign
    /// and more than 16 digits;
    /// `RuleIdentity(comment:)`, read as bytes, finds the identity a Character-by-Character
    /// split would, on comments built from ours, near misses and non-ASCII text.
    @Test func hexAndIdentitiesReadAsBytesAsTheyReadAsCharacters() {
        var g = ReaderShapes()
        print("StringSearchTests hex seed \(g.seed) (READERS_SEED=\(g.seed) replays it)")
        let digits = ["0", "7", "9", "a", "f", "A", "F", "g", "+", "-", " ", "é", "\u{FF11}"]
        var read = 0
        for round in 0..<3_000 {
            // Mostly well-formed numbers, so that both answers are common.
            let alphabet = g.below(3) == 0 ? digits : Array(digits.prefix(7))
            let text = (0..<g.below(19)).map { _ in g.pick(alphabet) }.joined()
            // At most 16 digits by contract: a 17th, even a leading zero, is not ours.
            let expected = text.hasPrefix("+") || text.hasPrefix("-") || text.utf8.count > 16 ? nil : UInt64(text, radix: 16)
            #expect(ASCIIHex.value(text.utf8) == expected, "seed \(g.seed) round \(round): \(text.debugDescription)")
            if expected != nil { read += 1 }
        }
        #expect(read > 300 && read < 2_700, "\(read) of 3000 read: the cases do not test both sides")
        let pieces = ["libvirt-portfwd", " ", "dnat-open-any", "1a2b3c4d", "1A2B3C4D", "+1a2b3c4", "1a2b3c4", "plan", "é", "x"]
        var identified = 0
        for round in 0..<3_000 {
            let comment = g.below(2) == 0 ? (0..<g.below(8)).map { _ in g.pick(pieces) }.joined()
                : "libvirt-portfwd \(g.pick(["dnat-open-any", "", "é", "count-in"])) \(g.pick(Array(pieces[3...])))"
                    + g.pick(["", " ", " plan 0123456789abcdef", "x"])
            let words = comment.split(separator: " ", omittingEmptySubsequences: false)
            // An identity is known by its description: role, a space, eight lowercase hex digits.
            let expected: String? = words.count >= 3 && words[0] == "libvirt-portfwd" && !words[1].isEmpty && words[2].count == 8
                && !words[2].hasPrefix("+") && !words[2].hasPrefix("-")
                ? UInt32(words[2], radix: 16).map { _ in "\(words[1]) \(words[2].lowercased())" } : nil
            #expect(RuleIdentity(comment: comment)?.description == expected, "seed \(g.seed) round \(round): \(comment.debugDescription)")
            if expected != nil { identified += 1 }
        }
        #expect(identified > 30, "\(identified) of 3000 identified: the cases do not test both sides")
    }
}
