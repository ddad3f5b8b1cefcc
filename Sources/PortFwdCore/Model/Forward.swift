/// A port spec together with who may use it.
public struct Forward: Hashable, Sendable, CustomStringConvertible {
    public enum Origin: String, Sendable, Codable { case config, metadata }

    public let spec: PortSpec
    /// Client networks allowed to connect. Empty means everyone.
    public let sources: [Network]
    public let origin: Origin

    public init(spec: PortSpec, sources: [Network] = [], origin: Origin = .config) {
        self.spec = spec
        self.sources = Network.minimalCover(sources)
        self.origin = origin
    }

    /// The same forward, whoever declared it: spec and sources alike, the origin aside. Of two
    /// such, one is kept.
    public func isSame(as other: Forward) -> Bool { spec == other.spec && sources == other.sources }

    /// Whether a spec names this forward (`forward remove SPEC`): its spec, whatever its sources.
    public func isNamed(by spec: PortSpec) -> Bool { self.spec == spec }

    public var description: String {
        sources.isEmpty ? spec.description : "\(spec) from \(sources.map(\.description).joined(separator: ","))"
    }
}
