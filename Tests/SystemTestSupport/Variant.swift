/// The strategies every traffic test runs against: the nftables backend, and the iptables
/// backend in both of iptables' flavours.
public enum Variant: String, CaseIterable, CustomStringConvertible, Sendable {
    case nftables
    case iptablesNft = "iptables-nft"
    case iptablesLegacy = "iptables-legacy"

    public var description: String { rawValue }

    /// The `[settings]` line selecting the backend.
    public var settingsLine: String { self == .nftables ? "backend = \"nftables\"" : "backend = \"iptables\"" }

    /// Extra arguments for the tool.
    public var arguments: String {
        switch self {
        case .nftables: return ""
        case .iptablesNft: return " --iptables nft"
        case .iptablesLegacy: return " --iptables legacy"
        }
    }

    public var isIptables: Bool { self != .nftables }
}
