import Foundation

/// How often the watch service may repair the rules. Another program that keeps undoing them
/// (a firewall script in a loop, a second manager of the same chains) must not turn the two
/// into a fight: past `limit` repairs in `window`, each further one waits twice as long as
/// the last, up to `longest`, and the admin hears why. A check that finds nothing to repair
/// ends the backoff.
public struct HealLimiter: Sendable {
    public let window: TimeInterval
    public let limit: Int
    public let longest: TimeInterval
    private var heals: [Date] = []
    private(set) var backoff: TimeInterval = 0
    /// No repair before this.
    public private(set) var notBefore: Date?

    public init(window: TimeInterval = 60, limit: Int = 10, longest: TimeInterval = 300) {
        self.window = window
        self.limit = limit
        self.longest = longest
    }

    public func mayHeal(at now: Date) -> Bool { notBefore.map { now >= $0 } ?? true }

    /// Notes a repair; returns the line to log when it starts or lengthens a backoff.
    public mutating func healed(at now: Date) -> String? {
        heals.append(now)
        heals.removeAll { now.timeIntervalSince($0) >= window }
        guard heals.count >= limit else { return nil }
        backoff = backoff == 0 ? 2 : min(backoff * 2, longest)
        notBefore = now.addingTimeInterval(backoff)
        return "another program keeps undoing the rules: repaired \(heals.count) times in the last \(Int(window)) s; "
            + "waiting \(Int(backoff)) s before the next repair"
    }

    /// A check found the rules right.
    public mutating func steady() {
        backoff = 0
        notBefore = nil
    }
}
