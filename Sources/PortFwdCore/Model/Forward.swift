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

    public var description: String {
        sources.isEmpty ? spec.description : "\(spec) from \(sources.map(\.description).joined(separator: ","))"
    }
}
