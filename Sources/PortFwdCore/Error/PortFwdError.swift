/// The library's one error type: a code that callers branch on, and a message an admin can read
/// (one line per problem, each naming where the input came from and why it was refused, with
/// the error underneath already in its words).
///
/// Codes are assigned once, where the error is first understood: at the parser, at the
/// libnftables boundary, at the process runner. Nobody downstream matches message text.
public struct PortFwdError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable, Hashable {
        /// Input (config, domain XML, a lease, a record, the command line) does not parse.
        case invalidInput
        /// Input parses but asks for more than the admin's policy allows.
        case policy
        /// Two forwards claim the same host port.
        case conflict
        /// What was asked about does not exist (ENOENT).
        case notFound
        /// What was to be created exists already (EEXIST).
        case exists
        /// Not allowed to look or change (EPERM, EACCES).
        case permission
        /// The kernel or a firewall tool refused a change as a whole; nothing changed.
        case refused
        /// A library or program the operation needs is missing.
        case unavailable
        /// Reading or writing a file, or running a program, failed.
        case io
        /// A change was made in part and could not be rolled back completely.
        case partial
    }

    public let code: Code
    /// What happened, with what caused it already in the words: a step's error keeps the
    /// message of the one beneath it, so no separate cause is carried.
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// Several problems of one kind, one line each.
    public init(_ code: Code, lines: [String]) {
        self.init(code, lines.joined(separator: "\n"))
    }

    public var lines: [String] { message.split(separator: "\n").map(String.init) }

    public var description: String { message }

    /// The same error with `context` in front of every line: where the input came from.
    public func prefixed(_ context: String) -> PortFwdError {
        PortFwdError(code, lines: lines.map { "\(context): \($0)" })
    }

    /// The same error with `note` appended to its last line.
    public func appending(_ note: String) -> PortFwdError {
        PortFwdError(code, message + note)
    }
}

extension PortFwdError: Equatable {
    public static func == (a: PortFwdError, b: PortFwdError) -> Bool { a.code == b.code && a.message == b.message }
}
