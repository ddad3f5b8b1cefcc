/// The strategies every traffic test runs against: the nftables backend, and the iptables
/// backend in both of iptables' flavours.
enum Variant: String, CaseIterable, CustomStringConvertible {
    case nftables
    case iptablesNft = "iptables-nft"
    case iptablesLegacy = "iptables-legacy"

    var description: String { rawValue }

    /// The `[settings]` line selecting the backend.
    var settingsLine: String { self == .nftables ? "backend = \"nftables\"" : "backend = \"iptables\"" }

    /// Extra arguments for the tool.
    var arguments: String {
        switch self {
        case .nftables: return ""
        case .iptablesNft: return " --iptables nft"
        case .iptablesLegacy: return " --iptables legacy"
        }
    }

    var isIptables: Bool { self != .nftables }
}
