import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The seam for running other programs (iptables-save, iptables-restore). Tests record calls.
public protocol CommandRunner: Sendable {
    func run(_ argv: [String], input: String?) throws(CommandError) -> CommandResult
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
}

public struct CommandError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Runs programs directly (no shell), found in the system directories: libvirtd starts hooks
/// with a minimal environment, so PATH cannot be trusted to hold /usr/sbin.
///
/// posix_spawn and poll instead of Foundation's Process, which notices a child's exit through
/// machinery that hung here (a CFSocket wakeup pair that could not be created).
public struct ProcessRunner: CommandRunner {
    static let directories = ["/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/sbin", "/usr/local/bin"]

    public init() {}

    public static func locate(_ name: String) -> String? {
        if name.hasPrefix("/") { return name }
        return directories.map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    public func run(_ argv: [String], input: String?) throws(CommandError) -> CommandResult {
        guard let path = Self.locate(argv[0]) else { throw CommandError("\(argv[0]): not installed") }
        var inPipe: [Int32] = [-1, -1], outPipe: [Int32] = [-1, -1], errPipe: [Int32] = [-1, -1]
        guard pipe(&inPipe) == 0, pipe(&outPipe) == 0, pipe(&errPipe) == 0 else {
            throw CommandError("\(argv[0]): pipe: \(String(cString: strerror(errno)))")
        }
        for fd in inPipe + outPipe + errPipe { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, inPipe[0], 0)
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
        Self.closeFrom(&actions, 3)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK))
        let cargs = ([path] + argv.dropFirst()).map { strdup($0) } + [nil]
        defer { cargs.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, path, &actions, &attributes, cargs, environ)
        for fd in [inPipe[0], outPipe[1], errPipe[1]] { close(fd) }
        guard rc == 0 else {
            for fd in [inPipe[1], outPipe[0], errPipe[0]] { close(fd) }
            throw CommandError("\(argv[0]): \(String(cString: strerror(rc)))")
        }
        let (stdout, stderr) = Self.exchange(input: Array((input ?? "").utf8), stdin: inPipe[1], stdout: outPipe[0], stderr: errPipe[0])
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let signal = status & 0x7f
        return CommandResult(status: signal == 0 ? (status >> 8) & 0xff : 128 + signal,
                             stdout: String(decoding: stdout, as: UTF8.self), stderr: String(decoding: stderr, as: UTF8.self))
    }

    /// Nothing but 0, 1 and 2 reaches the child, not even descriptors opened meanwhile by other
    /// threads without CLOEXEC. glibc hides this call behind _GNU_SOURCE, hence dlsym.
    private static func closeFrom(_ actions: inout posix_spawn_file_actions_t, _ fd: Int32) {
        typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
        guard let symbol = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np") else { return }
        _ = unsafeBitCast(symbol, to: CloseFrom.self)(&actions, fd)
    }

    /// Feeds stdin and drains stdout and stderr together, so a large input or output can never
    /// leave both sides waiting on a full pipe.
    private static func exchange(input: [UInt8], stdin: Int32, stdout: Int32, stderr: Int32) -> ([UInt8], [UInt8]) {
        var out: [UInt8] = [], err: [UInt8] = []
        var written = 0
        var inFD = stdin
        if input.isEmpty { close(inFD); inFD = -1 }
        var open: Set<Int32> = [stdout, stderr]
        var buffer = [UInt8](repeating: 0, count: 65536)
        signal(SIGPIPE, SIG_IGN)
        while !open.isEmpty || inFD >= 0 {
            var fds = open.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            if inFD >= 0 { fds.append(pollfd(fd: inFD, events: Int16(POLLOUT), revents: 0)) }
            guard poll(&fds, nfds_t(fds.count), -1) >= 0 else { if errno == EINTR { continue } else { break } }
            for p in fds where p.revents != 0 {
                if p.fd == inFD {
                    let n = input.withUnsafeBytes { write(inFD, $0.baseAddress! + written, min(65536, input.count - written)) }
                    if n > 0 { written += n }
                    if n < 0 || written == input.count { close(inFD); inFD = -1 }
                } else {
                    let n = read(p.fd, &buffer, buffer.count)
                    if n > 0 {
                        if p.fd == stdout { out += buffer[0..<n] } else { err += buffer[0..<n] }
                    } else {
                        close(p.fd)
                        open.remove(p.fd)
                    }
                }
            }
        }
        return (out, err)
    }
}
