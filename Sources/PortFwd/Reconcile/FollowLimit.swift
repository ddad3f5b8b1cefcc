import FoundationEssentials
import PortFwdCore
import Synchronization

/// How often the service follows one guest's lease moves: a bucket of `burst` moves per guest,
/// refilled at one per `interval`. A guest whose DHCP client changes its lease in a loop costs
/// the host one re-plan per interval, however fast it churns; every other guest, and the
/// service's repairs, go on as before. A move held back is followed when the guest's bucket
/// has a token again (`next`), so the last move always lands.
public final class FollowLimit: Sendable {
    public struct Timing: Sendable {
        public var burst = 4.0
        /// A follow plans and installs the whole table: about a second of a core at 10,000
        /// forwards (bench/RESULTS.md), so a churning guest costs at most a tenth of one.
        public var interval = 10.0
        public init() {}
    }

    private struct Bucket { var tokens: Double; var at: Double }

    public let timing: Timing
    private let clock: @Sendable () -> Double
    private let buckets = Mutex<[DomainUUID: Bucket]>([:])

    public init(timing: Timing = Timing(), clock: @escaping @Sendable () -> Double) {
        self.timing = timing
        self.clock = clock
    }

    /// Whether `uuid` may move now; with `consume`, the move is charged.
    public func allow(_ uuid: DomainUUID, consume: Bool) -> Bool {
        let now = clock(), timing = self.timing
        return buckets.withLock { all in
            var b = all[uuid] ?? Bucket(tokens: timing.burst, at: now)
            b.tokens = min(timing.burst, b.tokens + max(0, now - b.at) / timing.interval)
            b.at = now
            guard b.tokens >= 1 else { all[uuid] = b; return false }
            if consume { b.tokens -= 1 }
            // Full buckets are forgotten: the table holds only guests that moved lately.
            if b.tokens >= timing.burst { all[uuid] = nil } else { all[uuid] = b }
            return true
        }
    }

    /// When the first guest held back may move again; nil when none is held back now.
    public func next() -> Double? {
        let now = clock(), timing = self.timing
        return buckets.withLock { all in
            all = all.filter { _, b in b.tokens + max(0, now - b.at) / timing.interval < timing.burst }
            return all.values.map { $0.at + (1 - $0.tokens) * timing.interval }.filter { $0 > now }.min()
        }
    }
}
