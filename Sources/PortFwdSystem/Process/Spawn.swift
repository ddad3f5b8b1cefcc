import CLinux
import FoundationEssentials
import PortFwdCore
#if canImport(Glibc)
import Glibc
#endif

/// Starting programs with posix_spawn, for the tool and for its tests alike. Foundation's
/// Process notices a child's exit through machinery that hung here (a CFSocket wakeup pair
/// that could not be created), and through a descriptor the child inherits, so a command that
/// starts daemons would never be seen to finish.
///
/// Children get descriptors 0, 1 and 2 only (CLOEXEC is not enough: descriptors other threads
/// open meanwhile may lack it) and start with no signals blocked.
public enum Spawn {
    static let directories = ["/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/sbin", "/usr/local/bin"]

    /// The program's path: `name` itself when absolute, else the first system directory holding it.
    public static func locate(_ name: String) -> String? {
        if name.hasPrefix("/") { return name }
        return directories.map { "\($0)/\(name)" }.first { access($0, X_OK) == 0 }
    }

    /// Runs `argv` (argv[0] a path) to its end, feeding `input` and collecting both outputs.
    public static func run(_ argv: [String], input: [UInt8]) throws(PortFwdError) -> CommandResult {
        var inPipe: [Int32] = [-1, -1], outPipe: [Int32] = [-1, -1], errPipe: [Int32] = [-1, -1]
        guard pipe(&inPipe) == 0, pipe(&outPipe) == 0, pipe(&errPipe) == 0 else {
            throw PortFwdError(.io, "\(argv[0]): pipe: \(SystemCall.reason())")
        }
        for fd in inPipe + outPipe + errPipe { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        let pid: pid_t
        do {
            pid = try spawn(argv) { actions in
                posix_spawn_file_actions_adddup2(&actions, inPipe[0], 0)
                posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
                posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
            }
        } catch {
            for fd in inPipe + outPipe + errPipe { close(fd) }
            throw error
        }
        for fd in [inPipe[0], outPipe[1], errPipe[1]] { close(fd) }
        let (stdout, stderr) = exchange(input: input, stdin: inPipe[1], stdout: outPipe[0], stderr: errPipe[0])
        return CommandResult(status: wait(pid), stdout: String(decoding: stdout, as: UTF8.self), stderr: String(decoding: stderr, as: UTF8.self))
    }

    /// Starts `argv` (argv[0] a path) with its standard descriptors opened on files, and
    /// returns its PID; the caller waits for it, or ends it by that PID.
    public static func start(_ argv: [String], stdin: String = "/dev/null", stdout: String = "/dev/null",
                             stderr: String = "/dev/null") throws(PortFwdError) -> pid_t {
        try spawn(argv) { actions in
            posix_spawn_file_actions_addopen(&actions, 0, stdin, O_RDONLY, 0)
            posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
            posix_spawn_file_actions_addopen(&actions, 2, stderr, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        }
    }

    /// Waits for the child and returns its exit status (128+signal when killed).
    public static func wait(_ pid: pid_t) -> Int32 {
        var status: Int32 = 0
        _ = SystemCall.retrying { waitpid(pid, &status, 0) }
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal
    }

    private static func spawn(_ argv: [String], _ descriptors: (inout posix_spawn_file_actions_t) -> Void) throws(PortFwdError) -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        descriptors(&actions)
        closeFrom(&actions, 3)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK))
        let cargs = argv.map { strdup($0) } + [nil]
        defer { cargs.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, argv[0], &actions, &attributes, cargs, environ)
        guard rc == 0 else { throw PortFwdError(.unavailable, "\(argv[0]): \(SystemCall.reason(rc))") }
        return pid
    }

    /// glibc hides posix_spawn_file_actions_addclosefrom_np behind _GNU_SOURCE, hence dlsym.
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
            guard SystemCall.retrying({ poll(&fds, nfds_t(fds.count), -1) }) >= 0 else { break }
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
