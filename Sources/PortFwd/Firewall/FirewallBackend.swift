import PortFwdCore
import PortFwdSystem

/// What every firewall strategy does with a plan. Chosen by name in `Host.backends`; the
/// nftables backend is the default, the iptables backend the alternative.
///
/// A backend never changes the kernel by itself: it looks once, then describes the change as
/// steps, each with its way back, which `Steps.run` applies all or nothing.
public protocol FirewallBackend: Sendable {
    /// `.nftables` or `.iptables`, never `.auto`.
    var name: Settings.Backend { get }
    /// The exact text `install` hands to the kernel for this plan (`export` prints it).
    func render(_ plan: Plan) -> String
    /// The steps that install `plan` and put admission where it is needed.
    func install(_ plan: Plan) throws(PortFwdError) -> Installation
    /// Asks the kernel to check the plan without committing anything.
    func validate(_ plan: Plan) throws(PortFwdError)
    /// The steps that remove our rules; with `admission`, our admission rules too.
    func removal(admission: Bool) throws(PortFwdError) -> Installation
    /// Whether rules of ours are installed by this backend.
    func installed() throws(PortFwdError) -> Bool
    /// Traffic counters of the plan's guest endpoints, or nil when nothing is installed.
    func counters(for plan: Plan) throws(PortFwdError) -> Counters?
    /// Where the installed rules differ from `plan`, empty when they match.
    func drift(from plan: Plan) throws(PortFwdError) -> [Drift]
    /// Both at once, for `status`: a backend that reads its rules once for both says so.
    func inspect(_ plan: Plan) throws(PortFwdError) -> (drift: [Drift], counters: Counters?)
}

extension FirewallBackend {
    public func inspect(_ plan: Plan) throws(PortFwdError) -> (drift: [Drift], counters: Counters?) {
        (try drift(from: plan), try counters(for: plan))
    }
}

/// A prepared change: the steps, and what to tell the admin once they ran.
public struct Installation: Sendable {
    public var steps: [Step] = []
    public var notes: [String] = []

    public init(steps: [Step] = [], notes: [String] = []) {
        self.steps = steps
        self.notes = notes
    }

    public static func + (a: Installation, b: Installation) -> Installation {
        Installation(steps: a.steps + b.steps, notes: a.notes + b.notes)
    }
}
