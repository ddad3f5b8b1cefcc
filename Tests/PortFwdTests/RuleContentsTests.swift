import Foundation
import Testing
import PortFwd
@testable import PortFwdCore
import PortFwdSystem
import TestSupport

/// What an install learns of its rules (`RuleContents`) is kept in the state directory, which
/// others may have written: whatever the file holds, it reads whole or not at all, and it can
/// never keep the rules from converging: one reconcile learns them again.
@Suite struct RuleContentsTests {
    static let words = ["dnat4", "forward", "open-any", "count-in", "x", "a_b", String(repeating: "w", count: 64)]

    func random(_ shapes: inout ReaderShapes) -> RuleContents {
        var text = "generation \(shapes.pick(["", "fake", "/lib/libnftables.so.1 123 456 789 6.1.0-40-amd64"]))\n"
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
        for text in hostile { #expect(RuleContents(text: "generation g\n\(text)\n") == nil, "\(text)") }
        let line = "dnat4 open-any 1a2b3c4d 0123456789abcdef\n"
        for text in ["", "generation g", line, "generation \u{7}\n", "generation \(String(repeating: "g", count: 513))\n"] {
            #expect(RuleContents(text: text) == nil, "\(text)")
        }
        #expect(RuleContents(text: "generation g\n" + String(repeating: line, count: RuleContents.maximumRules)) != nil)
        #expect(RuleContents(text: "generation g\n" + String(repeating: line, count: RuleContents.maximumRules + 1)) == nil)
        for _ in 0..<500 {
            var text = random(&shapes).text
            text = shapes.chance(3) ? text + shapes.long(["x", " ", "\n", "é", "0"]) : shapes.damaged(text)
            guard let read = RuleContents(text: text) else { continue }
            #expect(RuleContents(text: read.text) == read, "seed \(shapes.seed)")
            #expect(read.digests.keys.allSatisfy { RuleContents.isWord($0.chain) && RuleContents.isWord($0.identity.role) })
        }
    }

    /// An install lists its rules only when the store does not know them in this generation:
    /// first, after an upgrade, and for a plan with other rules; not on every apply.
    @Test func anInstallLearnsWhatItDoesNotKnow() throws {
        let host = FakeHost()
        var all = Change.reapply
        all.mode = .all
        func listings() -> Int { host.nft.queries.filter { if case .rules = $0 { true } else { false } }.count }
        _ = try host.reconciler(DriftTests.config).reconcile(all)
        #expect(listings() == 1)
        _ = try host.reconciler(DriftTests.config).reconcile(.reapply)
        #expect(listings() == 1, "nothing new to learn")
        host.nft.generation = "fake 2"
        let reconciler = try host.reconciler(DriftTests.config)
        _ = try reconciler.reconcile(.reapply)
        #expect(listings() == 2, "an upgrade: learnt again")
        let relearnt = reconciler.store.ruleContents
        #expect(relearnt?.generation == "fake 2")
        let marked = try host.reconciler("[settings]\nmark = 0x4000\n\n" + DriftTests.config)
        _ = try marked.reconcile(.reapply)
        #expect(listings() == 3, "rules of another statement: learnt")
        let plan = try marked.plan().plan
        let covered = marked.store.ruleContents?.covers(NftTable(plan: plan).chains, generation: "fake 2")
        #expect(covered == true)
    }

    /// Digests learnt by another libnftables (an upgrade, or a service still running the old
    /// one beside hooks running the new) judge nothing: no rule is called changed for them.
    @Test func digestsOfAnotherGenerationJudgeNothing() throws {
        let host = FakeHost()
        var all = Change.reapply
        all.mode = .all
        let reconciler = try host.reconciler(DriftTests.config)
        let plan = try reconciler.reconcile(all).plan
        let learnt = try #require(reconciler.store.ruleContents)
        let forged = try #require(RuleContents(text: learnt.text.split(separator: "\n").map { line in
            line.hasPrefix("generation ") ? line : line.dropLast(16) + "0123456789abcdef"
        }.joined(separator: "\n") + "\n"))
        try reconciler.store.setRuleContents(forged)
        #expect(try reconciler.drift(from: plan).contains { if case .table(.alteredRule) = $0 { true } else { false } },
                "in its own generation, every digest differs")
        host.nft.generation = "fake 2"
        #expect(try reconciler.drift(from: plan) == [], "another generation's digests: not judged")
    }

    /// Whatever the state directory's file says, the service's next check is left without
    /// drift: a forged file costs one repair at most, after which the install learnt again.
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
            let first = try reconciler.repair(limit: nil, held: plan)
            #expect(try reconciler.drift(from: plan) == [], "round \(round), seed \(shapes.seed)")
            if case .repaired = first.verdict {
                #expect(reconciler.store.ruleContents == learnt, "learnt again, the same")
            }
            #expect(try reconciler.repair(limit: nil, held: plan).verdict == .steady, "round \(round), seed \(shapes.seed)")
        }
    }
}
