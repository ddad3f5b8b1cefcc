import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif
import PortFwdCore
import PortFwdSystem

/// libvirt's network hook. When a network starts, libvirt has just re-created its rules; with
/// the nftables firewall backend our admission rule in its `forward` chain survives that, but
/// a host whose libvirt re-created its whole table would lose it, so on `started` admission is
/// re-asserted and the forwards re-applied, whenever anything of ours is there to keep: a
/// record, the recorded `all` mode, or our rules. Never fails: nothing here may stop a network.
public struct NetworkHook: Sendable {
    public let reconciler: Reconciler
    public let log: Log

    public init(reconciler: Reconciler, log: Log) {
        self.reconciler = reconciler
        self.log = log
    }

    public func handle(network: String, operation: String) -> Int32 {
        guard operation == "started" else { return 0 }
        let started = Date()
        do {
            let store = reconciler.store
            let installed = try reconciler.installed()
            let ours = installed || !store.load().guests.isEmpty || reconciler.recordedMode == .all
            guard ours else { return 0 }
            let outcome = try reconciler.reconcile(.reapply)
            log.warnings(outcome.warnings.map(\.message), prefix: "network \(network) started: ")
            log.info("network \(network) started: \(outcome.plan.forwardCount) forwards re-applied, "
                + "\(Int(Date().timeIntervalSince(started) * 1000)) ms")
        } catch {
            log.error("network \(network) started: \(error.oneLine)")
        }
        return 0
    }
}
