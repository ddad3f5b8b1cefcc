import PortFwdCore

/// The seam for running other programs (iptables-save, iptables-restore, virsh). Tests use an
/// in-memory iptables (`FakeIptables`) or a recording runner.
public protocol CommandRunner: Sendable {
    /// Runs `argv` (argv[0] is looked up in the system directories) with `input` on stdin.
    /// Throws only when the program could not be run; a non-zero exit is a result.
    func run(_ argv: [String], input: String?) throws(PortFwdError) -> CommandResult
}

public struct CommandResult: Sendable, Equatable {
    public let status: Int32
    public let stdout: String
    public let stderr: String

    public init(status: Int32, stdout: String, stderr: String) {
        self.status = status
        self.stdout = stdout
        self.stderr = stderr
    }

    /// stderr on one line, for messages.
    public var reason: String {
        let text = stderr.split(whereSeparator: \.isNewline).map { $0.trimmed }.filter { !$0.isEmpty }.joined(separator: "; ")
        return text.isEmpty ? "exit status \(status)" : text
    }
}

/// Runs programs directly (no shell), found in the system directories: libvirtd starts hooks
/// with a minimal environment, so PATH cannot be trusted to hold /usr/sbin.
public struct ProcessRunner: CommandRunner {
    public init() {}

    public func run(_ argv: [String], input: String?) throws(PortFwdError) -> CommandResult {
        guard let path = Spawn.locate(argv[0]) else { throw PortFwdError(.unavailable, "\(argv[0]): not installed") }
        return try Spawn.run([path] + argv.dropFirst(), input: Array((input ?? "").utf8))
    }
}
