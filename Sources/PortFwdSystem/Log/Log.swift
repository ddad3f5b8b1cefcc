import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Where the tool reports what it did: syslog for the record, and stderr for errors (libvirt
/// puts a failing hook's stderr into the error virsh shows). Tests use a recording fake.
public protocol Log: Sendable {
    func info(_ line: String)
    func warning(_ line: String)
    func error(_ line: String)
}

public struct SyslogLog: Log {
    /// What also goes to stderr besides syslog.
    public enum Echo: Sendable { case errors, all, none }

    let echo: Echo

    /// openlog(3) keeps the pointer it is given, so the name must outlive every syslog call.
    nonisolated(unsafe) private static let ident: UnsafeMutablePointer<CChar> = strdup("libvirt-portfwd")!

    public init(echo: Echo = .errors) {
        self.echo = echo
        openlog(Self.ident, LOG_PID, LOG_DAEMON)
    }

    public func info(_ line: String) { send(LOG_INFO, line, echoed: echo == .all) }
    public func warning(_ line: String) { send(LOG_WARNING, line, echoed: echo != .none) }
    public func error(_ line: String) { send(LOG_ERR, line, echoed: echo != .none) }

    private func send(_ priority: Int32, _ line: String, echoed: Bool) {
        // syslog(3) is variadic; vsyslog with a "%s" format keeps the line from being a format.
        // The argument must be a C string: a Swift String passed as a CVarArg is not one, and
        // syslog got a few bytes of its in-memory representation instead of the line.
        line.withCString { text in withVaList([text]) { vsyslog(priority, "%s", $0) } }
        if echoed { FileHandle.standardError.write(Data("libvirt-portfwd: \(line)\n".utf8)) }
    }
}
