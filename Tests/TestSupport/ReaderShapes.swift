import Foundation

/// Random documents of hostile shapes for the readers' property tests: deep (nesting far past
/// each reader's limit, or just at it), wide (tens of thousands of siblings, attributes or
/// keys) and long (megabyte keys, strings, numbers), cut short or corrupted at random. The
/// seed is printed by each test, and `READERS_SEED=N` replays it.
public struct ReaderShapes {
    public var rng: SplitMix
    public let seed: UInt64

    public init() {
        seed = UInt64(ProcessInfo.processInfo.environment["READERS_SEED"] ?? "") ?? UInt64.random(in: 0...UInt64.max)
        rng = SplitMix(seed: seed)
    }

    public mutating func below(_ n: Int) -> Int { Int(rng.next() % UInt64(max(1, n))) }
    public mutating func chance(_ n: Int) -> Bool { below(n) == 0 }
    public mutating func pick<T>(_ items: [T]) -> T { items[below(items.count)] }

    /// A count for a shape: mostly small, sometimes at a limit, sometimes far past it.
    public mutating func count(limit: Int) -> Int {
        switch below(6) {
        case 0: return limit
        case 1: return limit + 1
        case 2: return limit * 2 + below(limit)
        case 3: return 20_000 + below(20_000)
        default: return 1 + below(limit)
        }
    }

    /// A long run of one of a few texts: plain, non-ASCII, escapes.
    public mutating func long(_ pieces: [String]) -> String {
        String(repeating: pick(pieces), count: 1 + below(pick([10, 1_000, 100_000])))
    }

    /// The document cut short, or a few bytes of it changed.
    public mutating func damaged(_ text: String) -> String {
        var bytes = Array(text.utf8)
        guard !bytes.isEmpty else { return text }
        switch below(4) {
        case 0: bytes = Array(bytes.prefix(below(bytes.count)))
        case 1:
            for _ in 0..<(1 + below(3)) { bytes[below(bytes.count)] = pick(Array("[]{}<>\"'=.,#\\\n &;:/0a".utf8)) }
        default: break
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// One error line as the readers must give it: a single line, of bounded length, that names
/// where (`place`) and says something.
public func isOneBoundedLine(_ text: String, maximum: Int = 1_000) -> Bool {
    !text.isEmpty && !text.contains("\n") && text.utf8.count <= maximum
}
