import Foundation
import PortFwdSystem
#if canImport(Glibc)
import Glibc
#endif

/// Runs shell commands for the end-to-end labs. Failures throw with the command and its stderr.
public enum Shell {
    public struct Failure: Error, CustomStringConvertible {
        public let command: String
        public let status: Int32
        public let output: String
        public var description: String { "`\(command)` exited \(status): \(output)" }

        public init(command: String, status: Int32, output: String) {
            self.command = command
            self.status = status
            self.output = output
        }
    }

    public struct Result: Sendable {
        public let status: Int32
        public let stdout: String
        public let stderr: String
    }

    @discardableResult
    public static func run(_ command: String, input: String? = nil) throws -> String {
        let r = capture(command, input: input)
        guard r.status == 0 else { throw Failure(command: command, status: r.status, output: (r.stderr + r.stdout)
            .trimmingCharacters(in: .whitespacesAndNewlines)) }
        return r.stdout
    }

    /// Runs through posix_spawn and waitpid, with output in temporary files. Foundation's
    /// Process notices a child's exit through a descriptor the child inherits, so when a command
    /// starts daemons (lab.sh up) that keep it open, waitUntilExit never returns; pipes would
    /// likewise never reach EOF.
    public static func capture(_ command: String, input: String? = nil) -> Result {
        let dir = NSTemporaryDirectory() + "pf-shell-" + UUID().uuidString
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        _ = FileManager.default.createFile(atPath: "\(dir)/in", contents: Data((input ?? "").utf8))
        let pid: pid_t
        do {
            pid = try Spawn.start(["/bin/sh", "-c", command], stdin: "\(dir)/in", stdout: "\(dir)/out", stderr: "\(dir)/err")
        } catch {
            return Result(status: -1, stdout: "", stderr: "\(error)")
        }
        let status = Spawn.wait(pid)
        let stdout = (try? String(contentsOfFile: "\(dir)/out", encoding: .utf8)) ?? ""
        let stderr = (try? String(contentsOfFile: "\(dir)/err", encoding: .utf8)) ?? ""
        return Result(status: status, stdout: stdout, stderr: stderr)
    }
}
