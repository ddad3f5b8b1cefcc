import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Where hook actions are reported: syslog for the record, stderr for errors (libvirt puts a
/// failing hook's stderr into the error virsh shows). Tests use a recording fake.
public protocol HookLog: Sendable {
    func info(_ line: String)
    func error(_ line: String)
}

public struct SyslogLog: HookLog {
    public init() {
        openlog("libvirt-portfwd", LOG_PID, LOG_DAEMON)
    }

    public func info(_ line: String) { send(LOG_INFO, line) }

    public func error(_ line: String) {
        send(LOG_ERR, line)
        FileHandle.standardError.write(Data("libvirt-portfwd: \(line)\n".utf8))
    }

    private func send(_ priority: Int32, _ line: String) {
        // syslog(3) is variadic; vsyslog with a "%s" format keeps the line from being a format.
        withVaList([line]) { vsyslog(priority, "%s", $0) }
    }
}
