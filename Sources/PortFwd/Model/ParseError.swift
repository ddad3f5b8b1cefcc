/// A reason a piece of input was refused. The caller adds where the input came from
/// (file and key path, XML element, command-line argument).
public struct ParseError: Error, Sendable, Equatable, CustomStringConvertible {
    public let reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}
