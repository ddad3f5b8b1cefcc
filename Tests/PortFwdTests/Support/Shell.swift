import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Runs shell commands for the end-to-end labs. Failures throw with the command and its stderr.
enum Shell {
    struct Failure: Error, CustomStringConvertible {
        let command: String
        let status: Int32
        let output: String
        var description: String { "`\(command)` exited \(status): \(output)" }
    }

    struct Result {
        let status: Int32
        let stdout: String
        let stderr: String
    }

    @discardableResult
    static func run(_ command: String, input: String? = nil) throws -> String {
        let r = capture(command, input: input)
        guard r.status == 0 else { throw Failure(command: command, status: r.status, output: (r.stderr + r.stdout).trimmingCharacters(in: .whitespacesAndNewlines)) }
        return r.stdout
    }

    /// Runs through posix_spawn and waitpid, with output in temporary files. Foundation's
    /// Process notices a child's exit through a descriptor the child inherits, so when a command
    /// starts daemons (lab.sh up) that keep it open, waitUntilExit never returns; pipes would
    /// likewise never reach EOF.
    static func capture(_ command: String, input: String? = nil) -> Result {
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

/// posix_spawn without Foundation: every descriptor but 0, 1 and 2 is closed in the child
/// (CLOEXEC is not enough: descriptors other threads open meanwhile may lack it).
enum Spawn {
    struct Failure: Error, CustomStringConvertible { let description: String }

    static func start(_ argv: [String], stdin: String = "/dev/null", stdout: String = "/dev/null", stderr: String = "/dev/null") throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, stdin, O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, stderr, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        closeFrom(&actions, 3)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // Children start with no signals blocked, whatever this test thread has blocked.
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK))
        var pid: pid_t = 0
        let cargs = argv.map { strdup($0) } + [nil]
        defer { cargs.forEach { free($0) } }
        let rc = posix_spawn(&pid, argv[0], &actions, &attributes, cargs, environ)
        guard rc == 0 else { throw Failure(description: "posix_spawn \(argv[0]): \(String(cString: strerror(rc)))") }
        return pid
    }

    /// glibc hides posix_spawn_file_actions_addclosefrom_np behind _GNU_SOURCE.
    private static func closeFrom(_ actions: inout posix_spawn_file_actions_t, _ fd: Int32) {
        typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
        guard let symbol = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np") else { return }
        _ = unsafeBitCast(symbol, to: CloseFrom.self)(&actions, fd)
    }

    /// Waits for the child and returns its exit status (128+signal when killed).
    static func wait(_ pid: pid_t) -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal
    }
}

/// Where the package and the built binary are.
enum Paths {
    static let root: String = {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().path
    }()

    static let binary: String = {
        if let env = ProcessInfo.processInfo.environment["LIBVIRT_PORTFWD_BIN"], !env.isEmpty { return env }
        return "\(root)/.build/debug/libvirt-portfwd"
    }()

    static let rulesets = "\(root)/rulesets"
}
