import CLinux
import FoundationEssentials
import PortFwdCore
#if canImport(Glibc)
import Glibc
#endif

/// Where the tool reports what it did: syslog for the record, and stderr for errors (libvirt
/// puts a failing hook's stderr into the error virsh shows). Tests use a recording fake.
/// Every implementation writes `LogText.line` of what it is given: printable, one line.
public protocol Log: Sendable {
    func info(_ line: String)
    func warning(_ line: String)
    func error(_ line: String)
}

extension Log {
    /// Warnings of one event: a few lines at most, then a count of the rest.
    public func warnings(_ lines: [String], prefix: String) {
        for line in LogText.capped(lines) { warning(prefix + line) }
    }
}

/// The one writer to stderr: whole lines, each in one write(2), cleaned by `LogText`.
public enum Stderr {
    public static func line(_ text: String) { write("libvirt-portfwd: \(LogText.line(text))\n") }

    /// Text of our own (usage, help), as it is.
    public static func write(_ text: String) {
        _ = SystemCall.writeAll(2, Array(text.utf8))
    }

    /// Whether stderr is the journal's own stream (systemd's JOURNAL_STREAM names its device
    /// and inode): then a line sent to syslog reaches the journal already.
    public static var isJournal: Bool {
        guard let value = getenv("JOURNAL_STREAM") else { return false }
        let parts = String(cString: value).split(separator: ":")
        var st = stat()
        guard parts.count == 2, let dev = UInt64(parts[0]), let ino = UInt64(parts[1]), fstat(2, &st) == 0 else { return false }
        return UInt64(st.st_dev) == dev && UInt64(st.st_ino) == ino
    }
}

public struct SyslogLog: Log {
    /// What also goes to stderr besides syslog.
    public enum Echo: Sendable { case errors, all, none }

    let echo: Echo

    /// openlog(3) keeps the pointer it is given, so the name must outlive every syslog call.
    nonisolated(unsafe) private static let ident: UnsafeMutablePointer<CChar> = strdup("libvirt-portfwd")!

    public init(echo: Echo = .errors) {
        // Under systemd, stderr is the journal too: echoing would log every error twice.
        self.echo = Stderr.isJournal ? .none : echo
        openlog(Self.ident, LOG_PID, LOG_DAEMON)
    }

    public func info(_ line: String) { send(LOG_INFO, line, echoed: echo == .all) }
    public func warning(_ line: String) { send(LOG_WARNING, line, echoed: echo != .none) }
    public func error(_ line: String) { send(LOG_ERR, line, echoed: echo != .none) }

    private func send(_ priority: Int32, _ line: String, echoed: Bool) {
        let clean = LogText.line(line)
        // syslog(3) with a "%s" format (CLinux's pf_syslog), which keeps the line from being a
        // format. The argument must be a C string: a Swift String passed as a CVarArg was not
        // one, and syslog got a few bytes of its in-memory representation instead of the line.
        clean.withCString { pf_syslog(priority, $0) }
        if echoed { Stderr.line(clean) }
    }
}

/// Log lines to stderr only: `watch --log stderr`, and tests.
public struct StderrLog: Log {
    public init() {}
    public func info(_ line: String) { Stderr.line(line) }
    public func warning(_ line: String) { Stderr.line(line) }
    public func error(_ line: String) { Stderr.line(line) }
}
