/// Transport protocols a forward can carry. Each has ports, so one `th dport` lookup covers all.
public enum Proto: String, Sendable, Codable, CaseIterable, Comparable {
    case tcp, udp, sctp

    public static func < (a: Proto, b: Proto) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}
