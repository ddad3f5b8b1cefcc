import Foundation

extension SplitMix {
    /// A generator for a test that draws at random, from a seed it prints: `TEST_SEED=N`
    /// replays the run (`swift test --filter` the one test, as the seed is each test's own).
    static func printed(_ test: String) -> SplitMix {
        let seed = UInt64(ProcessInfo.processInfo.environment["TEST_SEED"] ?? "") ?? UInt64.random(in: 0...UInt64.max)
        print("\(test) seed \(seed) (TEST_SEED=\(seed) replays it)")
        return SplitMix(seed: seed)
    }
}
