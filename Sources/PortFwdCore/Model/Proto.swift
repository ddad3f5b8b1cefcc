/// Transport protocols a forward can carry. Each has ports, so one `th dport` lookup covers all.
public enum Proto: String, Sendable, Codable, CaseIterable, Comparable {
    case tcp, udp, sctp

    /// The IANA protocol number, which nft prints without /etc/protocols.
    public var number: Int {
        switch self {
        case .tcp: return 6
        case .udp: return 17
        case .sctp: return 132
        }
    }

    public static func < (a: Proto, b: Proto) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}
