/// An inclusive range of ports, 1-65535. A single port is a range of length one.
public struct PortRange: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let lower: UInt16
    public let upper: UInt16

    public init?(_ lower: UInt16, _ upper: UInt16) {
        guard lower >= 1, lower <= upper else { return nil }
        self.lower = lower
        self.upper = upper
    }

    public init?(port: UInt16) { self.init(port, port) }

    public var count: Int { Int(upper) - Int(lower) + 1 }

    public func overlaps(_ other: PortRange) -> Bool { lower <= other.upper && other.lower <= upper }

    public func contains(_ other: PortRange) -> Bool { lower <= other.lower && other.upper <= upper }

    /// Parses `PORT` or `PORT-END`.
    public static func parse(_ text: Substring) throws(PortFwdError) -> PortRange {
        let bounds = pieces(of: text, at: UInt8(ascii: "-"))
        guard bounds.count <= 2, !bounds.contains(where: \.isEmpty) else {
            throw PortFwdError(.invalidInput, "'\(text)' is not a port or port range")
        }
        let lower = try port(bounds[0])
        let upper = bounds.count == 2 ? try port(bounds[1]) : lower
        guard let range = PortRange(lower, upper) else {
            throw PortFwdError(.invalidInput, "range \(text) is reversed")
        }
        return range
    }

    private static func port(_ text: Substring) throws(PortFwdError) -> UInt16 {
        // By byte: this runs for every port of every spec.
        guard !text.isEmpty, text.utf8.count <= 5, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
            throw PortFwdError(.invalidInput, "'\(text)' is not a port number")
        }
        let value = text.utf8.reduce(0) { $0 * 10 + Int($1 - 0x30) }
        guard value != 0 else { throw PortFwdError(.invalidInput, "port 0 is not allowed") }
        guard value <= 65535 else { throw PortFwdError(.invalidInput, "port \(value) is over 65535") }
        return UInt16(value)
    }

    public var description: String { lower == upper ? "\(lower)" : "\(lower)-\(upper)" }

    public static func < (a: PortRange, b: PortRange) -> Bool {
        a.lower != b.lower ? a.lower < b.lower : a.upper < b.upper
    }
}
