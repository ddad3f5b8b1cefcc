import Foundation
import PortFwdSystem
#if canImport(Glibc)
import Glibc
#endif

/// `watch` as a process in a namespace of its own, logging to a file.
public final class WatchProcess {
    public let pid: pid_t
    let logPath: String

    public convenience init(namespace: String, arguments: String, dir: String) throws {
        try self.init(["/usr/sbin/ip", "netns", "exec", namespace] + Self.words("\(Paths.binary) \(arguments) watch --log stderr"),
                      log: "\(dir)/watch.log")
    }

    /// `argv` must become the service itself (exec all the way), so its PID is the service's.
    public init(_ argv: [String], log: String) throws {
        logPath = log
        pid = try Spawn.start(argv, stderr: logPath)
        try waitFor("the service to start") { self.log.contains("watch start: ") }
    }

    public var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }
    /// Repairs of another program's changes.
    public var repairs: Int { log.components(separatedBy: "watch: repaired after").count - 1 }
    /// Routine follow-ups of libvirt: a guest's lease, start or stop.
    public var follows: Int { log.split(separator: "\n").filter { $0.contains("watch: guest ") }.count }

    /// Wake-ups so far: the process's voluntary context switches. An idle service sleeps in
    /// poll(2) and makes none.
    public var wakeups: Int {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        return status.split(separator: "\n").first { $0.hasPrefix("voluntary_ctxt_switches:") }
            .flatMap { Int($0.split(separator: "\t").last ?? "") } ?? -1
    }

    public func stop() {
        kill(pid, SIGTERM)
        if Spawn.wait(pid) != 0 { kill(pid, SIGKILL) }
    }

    public static func words(_ text: String) -> [String] { text.split(separator: " ").map(String.init) }
}

/// Polls `condition` until it holds, or fails after `seconds`: tests wait on conditions with
/// deadlines, never on fixed sleeps, and never assert how long something took.
public func waitFor(_ what: String, seconds: Double = 20, _ condition: () throws -> Bool) throws {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try condition() { return }
        usleep(50_000)
    }
    throw Shell.Failure(command: "waiting for \(what)", status: -1, output: "not within \(Int(seconds)) s")
}
