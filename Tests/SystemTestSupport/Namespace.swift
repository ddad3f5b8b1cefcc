import Foundation
import PortFwdCore
import PortFwdSystem
#if canImport(Glibc)
import Glibc
#endif

/// Runs iptables commands inside a network namespace. It can fail the n-th committing restore
/// (not the `--test` pass), either before it runs or by corrupting its input so that the real
/// iptables-restore refuses it: the test-only seam for atomicity.
public final class NamespacedCommands: CommandRunner, @unchecked Sendable {
    public let namespace: String
    public var failCommit: Int?
    public var corrupt = false
    public private(set) var commits = 0

    public init(namespace: String, failCommit: Int? = nil, corrupt: Bool = false) {
        self.namespace = namespace
        self.failCommit = failCommit
        self.corrupt = corrupt
    }

    public func run(_ argv: [String], input: String?) throws(PortFwdError) -> CommandResult {
        var input = input
        if argv[0].hasSuffix("-restore"), !argv.contains("--test") {
            defer { commits += 1 }
            if commits == failCommit {
                guard corrupt, let text = input, let commit = text.range(of: "COMMIT") else {
                    return CommandResult(status: 1, stdout: "", stderr: "\(argv[0]): injected failure\n")
                }
                input = text.replacingCharacters(in: commit, with: "-A LIBVIRT_PORTFWD_PRE -d 999.0.0.1/32 -j ACCEPT\nCOMMIT")
            }
        }
        return try ProcessRunner().run(["/usr/sbin/ip", "netns", "exec", namespace] + argv, input: input)
    }
}

/// A network namespace with a process parked in it, whose /proc/PID/net shows the namespace's
/// legacy tables (the backend runs in the test process, its commands in the namespace).
/// A throwaway network namespace, held by a sleeping process whose /proc/PID/net is the
/// namespace's (`procNet`), for tools that read the kernel's tables there.
public struct Namespace: Sendable {
    public let name: String
    public let procNet: String

    public static func with(_ body: (Namespace) throws -> Void) throws {
        let name = "pfns" + String(UInt32.random(in: 0..<UInt32.max), radix: 16)
        try Shell.run("ip netns add \(name)")
        let sleeper = try Spawn.start(["/usr/sbin/ip", "netns", "exec", name, "sleep", "600"])
        defer {
            kill(sleeper, SIGKILL)
            _ = Spawn.wait(sleeper)
            _ = Shell.capture("ip netns del \(name)")
        }
        for _ in 0..<50 where (try? String(contentsOfFile: "/proc/\(sleeper)/comm", encoding: .utf8)) != "sleep\n" { usleep(20_000) }
        try body(Namespace(name: name, procNet: "/proc/\(sleeper)/net"))
    }

    public func commands(failCommit: Int? = nil, corrupt: Bool = false) -> NamespacedCommands {
        NamespacedCommands(namespace: name, failCommit: failCommit, corrupt: corrupt)
    }

    /// iptables-save of both families in one flavour, without comments and counters, and
    /// without tables that hold no rule and only ACCEPT policies: iptables creates a table the
    /// first time it is used, and a failed apply cannot unload it again (nor can flush).
    public func save(_ flavour: IptablesFlavour) throws -> String {
        let text = try Shell.run("ip netns exec \(name) iptables-\(flavour.rawValue)-save; ip netns exec \(name) ip6tables-\(flavour.rawValue)-save")
            .split(separator: "\n").filter { !$0.hasPrefix("#") }
            .map { $0.replacingOccurrences(of: #"\[[0-9]+:[0-9]+\]"#, with: "", options: .regularExpression) }
            .joined(separator: "\n")
        return text.components(separatedBy: "COMMIT").filter { block in
            block.contains("\n-A ")
                || block.split(separator: "\n").contains { $0.hasPrefix(":") && !$0.hasSuffix("ACCEPT ") && !$0.hasSuffix("ACCEPT") }
        }.joined(separator: "COMMIT") + "COMMIT"
    }
}
