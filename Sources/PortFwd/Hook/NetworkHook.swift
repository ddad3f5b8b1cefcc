import Foundation

/// libvirt's network hook. Restarting a libvirt network re-creates its reject rules (and,
/// with libvirt's nftables backend, its whole table), dropping our admission rule with them;
/// on `started` we re-assert admission and re-apply. Never fails: nothing here may stop a network.
public struct NetworkHook: Sendable {
    public let reconciler: Reconciler
    public let log: HookLog

    public init(reconciler: Reconciler, log: HookLog) {
        self.reconciler = reconciler
        self.log = log
    }

    public func handle(network: String, operation: String) -> Int32 {
        guard operation == "started" else { return 0 }
        let started = Date()
        do {
            let count = try reconciler.store.withLock { () throws -> Int in
                let outcome = try reconciler.plan(all: false)
                // Nothing of ours is running: leave the kernel alone.
                guard !outcome.plan.guests.isEmpty else { return 0 }
                _ = try reconciler.install(outcome.plan)
                return outcome.plan.guests.reduce(0) { $0 + $1.forwards.count }
            }
            log.info("network \(network) started: \(count) forwards re-applied, \(milliseconds(since: started)) ms")
        } catch {
            log.error("network \(network) started: \(oneLine(error))")
        }
        return 0
    }
}
