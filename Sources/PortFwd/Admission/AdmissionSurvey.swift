import PortFwdCore
import Synchronization

/// The other firewalls' chains as one transaction found them, kept for its length: a repair
/// judges the kernel and then installs, under one lock, and both need the same survey. Keyed
/// by what a survey depends on, the mark and the flows to let through (the plan judged first
/// and a plan from before it can differ in both).
///
/// A survey kept this way can be stale only by what another program changes in the meantime
/// (the window grows by the listing of our table between the two). Then the install's
/// transaction may refer to rules that are gone and fail whole, or, in a table libvirt made
/// anew whose handles start again, put our rule beside another rule than the one it named; the
/// change's own event brings the service's next check, which surveys afresh and repairs.
public final class AdmissionSurvey: Sendable {
    struct Key: Hashable {
        let mark: Mark
        let flows: [Flow]
    }

    private let surveyed = Mutex<[Key: [any AdmissionPlace]]>([:])

    public init() {}

    /// The places for `mark` and `flows`, surveyed by `survey` on first asking.
    func places(mark: Mark, flows: [Flow], _ survey: () throws(PortFwdError) -> [any AdmissionPlace])
        throws(PortFwdError) -> [any AdmissionPlace] {
        let key = Key(mark: mark, flows: flows)
        if let known = surveyed.withLock({ $0[key] }) { return known }
        let places = try survey()
        surveyed.withLock { $0[key] = places }
        return places
    }
}
