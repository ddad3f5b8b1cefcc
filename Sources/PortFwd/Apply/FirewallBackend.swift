/// What every firewall strategy does with a plan. The nftables backend is the default;
/// an iptables backend sits behind the same protocol; tests use a recording fake.
public protocol FirewallBackend: Sendable {
    var name: String { get }
    /// The exact text `apply` would hand to the kernel.
    func render(_ plan: Plan) -> String
    /// Installs the plan atomically and asserts admission. On failure the previous rules stay.
    func apply(_ plan: Plan) throws(FirewallError) -> [String]
    /// Asks the kernel to check the plan without committing anything.
    func validate(_ plan: Plan) throws(FirewallError)
    /// Removes our rules and our admission rules. Keeps going past failures and reports them all.
    func remove() throws(FirewallError)
    /// Removes our rules but not admission: for the backend that is not in use, after a switch.
    func removeOwnRules() throws(FirewallError)
    /// Traffic counters per guest endpoint, or nil when nothing is installed.
    func counters() throws(FirewallError) -> [EndpointCounter]?
}

public struct EndpointCounter: Hashable, Sendable, Codable {
    public let address: String
    public let proto: String
    public let ports: String
    public let packets: UInt64
    public let bytes: UInt64
}

public struct FirewallError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
