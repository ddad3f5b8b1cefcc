import Foundation

extension SplitMix {
    /// A generator for a test that draws at random, from a seed it prints: `TEST_SEED=N`
    /// replays the run (`swift test --filter` the one test, as the seed is each test's own).
    public static func printed(_ test: String) -> SplitMix {
        let seed = UInt64(ProcessInfo.processInfo.environment["TEST_SEED"] ?? "") ?? UInt64.random(in: 0...UInt64.max)
        print("\(test) seed \(seed) (TEST_SEED=\(seed) replays it)")
        return SplitMix(seed: seed)
    }
}

/// A small seeded generator, so a failing interleaving can be replayed from its seed.
public struct SplitMix: RandomNumberGenerator {
    public var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
