import Foundation
import Testing
@testable import PortFwd
@testable import PortFwdCore
@testable import PortFwdSystem
import TestSupport

/// What an install learns of its rules (`RuleContents`) is kept in the state directory, which
/// others may have written: whatever the file holds, it reads whole or not at all, and it can
/// never keep the rules from converging: one reconcile learns them again.
@Suite struct RuleContentsTests {
    static let words = ["dnat4", "forward", "open-any", "count-in", "x", "a_b", String(repeating: "w", count: 64)]

    func random(_ shapes: inout ReaderShapes) -> RuleContents {
        var text = ""
        for _ in 0..<shapes.below(20) {
            let digest = String(format: "%08x", UInt32(truncatingIfNeeded: shapes.rng.next()))
            text += "\(shapes.pick(Self.words)) \(shapes.pick(Self.words)) \(digest) \(RuleContents.hex(shapes.rng.next()))\n"
        }
        return RuleContents(text: text)!
    }

    @Test func whatItWritesItReadsBack() {
        var shapes = ReaderShapes()
        print("RuleContentsTests seed \(shapes.seed) (READERS_SEED=\(shapes.seed) replays it)")
        for _ in 0..<500 {
            let contents = random(&shapes)
            #expect(RuleContents(text: contents.text) == contents, "seed \(shapes.seed)")
        }
    }

    /// Damaged, long or hostile text: nil, or a value that writes itself back the same and
    /// names only chains and roles of our own words.
    @Test func anythingElseReadsWholeOrNotAtAll() {
        var shapes = ReaderShapes()
        print("RuleContentsTests seed \(shapes.seed) (READERS_SEED=\(shapes.seed) replays it)")
        let hostile = ["dnat4 open-any 1a2b3c4d 0123456789abcdef 00", "dnat4 open any 1a2b3c4d 0123456789abcdef",
                       "dnat4  1a2b3c4d 0123456789abcdef", "dnat4 open-any +a2b3c4d 0123456789abcdef",
                       "dnat4 open-any 1a2b3c4d 0x23456789abcdef", "dnät4 open-any 1a2b3c4d 0123456789abcdef",
                       "dnat4 \(String(repeating: "w", count: 65)) 1a2b3c4d 0123456789abcdef", "\u{0} x 1a2b3c4d 0123456789abcdef"]
        for text in hostile { #expect(RuleContents(text: text) == nil, "\(text)") }
        let line = "dnat4 open-any 1a2b3c4d 0123456789abcdef\n"
        #expect(RuleContents(text: String(repeating: line, count: RuleContents.maximumRules)) != nil)
        #expect(RuleContents(text: String(repeating: line, count: RuleContents.maximumRules + 1)) == nil)
        for _ in 0..<500 {
            var text = random(&shapes).text
            text = shapes.chance(3) ? text + shapes.long(["x", " ", "\n", "é", "0"]) : shapes.damaged(text)
            guard let read = RuleContents(text: text) else { continue }
            #expect(RuleContents(text: read.text) == read, "seed \(shapes.seed)")
            #expect(read.digests.keys.allSatisfy { RuleContents.isWord($0.chain) && RuleContents.isWord($0.identity.role) })
        }
    }

    /// Whatever the state directory's file says, the next reconcile installs the plan, learns
    /// again and is left without drift: a forged file costs at most one repair.
    @Test func aForgedFileCostsOneRepairAtMost() throws {
        var shapes = ReaderShapes()
        print("RuleContentsTests seed \(shapes.seed) (READERS_SEED=\(shapes.seed) replays it)")
        let host = FakeHost()
        let reconciler = try host.reconciler(DriftTests.config)
        var all = Change.reapply
        all.mode = .all
        let plan = try reconciler.reconcile(all).plan
        let learnt = try #require(reconciler.store.ruleContents)
        for round in 0..<40 {
            var text = learnt.text
            switch shapes.below(3) {
            case 0: text = shapes.damaged(text)
            case 1: text = random(&shapes).text
            default: text = text.replacingOccurrences(of: RuleContents.hex(learnt.digests.values.first!), with: RuleContents.hex(shapes.rng.next()))
            }
            try SafeFile.write("\(reconciler.store.directory)/rules", Array(text.utf8))
            _ = try reconciler.drift(from: plan)
            _ = try reconciler.reconcile(.reapply)
            #expect(try reconciler.drift(from: plan) == [], "round \(round), seed \(shapes.seed)")
            #expect(reconciler.store.ruleContents == learnt, "learnt again, the same")
        }
    }
}
