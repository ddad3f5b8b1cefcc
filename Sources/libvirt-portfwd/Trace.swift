import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif
import PortFwd
import PortFwdCore
import PortFwdSystem

enum Trace {
    static let command = Command(
        path: "trace",
        abstract: "Follow a guest's next forwarded connection through every firewall chain, and name the one that drops it.",
        discussion: "Sets nftables' trace flag on the next new connections to the guest's forwards (and on the guest's first answers), "
            + "reads the kernel's trace events, and prints each base chain and rule the packet passes in every table and family, "
            + "until it leaves the host or something drops it. Only the trace flag is set, at most 20 packets a second, and only "
            + "until the timeout: the temporary table inet libvirt_portfwd_trace is removed on every way out. "
            + "Exit status 0: every packet followed got through; 2: one was dropped, or lost where nftables does not trace "
            + "(iptables-legacy); 1: nothing came in, or the trace could not run.",
        options: GlobalOptions.specs + [
            .value("timeout", "seconds", "How long to wait for packets (default 30)."),
            .value("count", "n", "How many packets to follow to their end (default 1)."),
        ],
        positionals: [PositionalSpec(name: "guest", help: "The guest, by name or UUID."),
                      PositionalSpec(name: "host-port", help: "Only the forward on this host port.", repeats: true)],
        needsRoot: true,
        examples: ["libvirt-portfwd trace web1 8080", "libvirt-portfwd trace web1 --count 2 --timeout 60"],
        run: run)

    static func run(_ arguments: Arguments) throws {
        guard arguments.positionals.count <= 2 else {
            throw UsageError(message: "unexpected argument '\(arguments.positionals[2])'", command: command)
        }
        let timeout = try number(arguments.value("timeout"), default: 30, name: "--timeout")
        let count = try number(arguments.value("count"), default: 1, name: "--count")
        var port: UInt16?
        if arguments.positionals.count == 2 {
            guard let p = UInt16(arguments.positionals[1]), p > 0 else {
                throw UsageError(message: "host port '\(arguments.positionals[1])' is not a port number", command: command)
            }
            port = p
        }
        let guest = arguments.positionals[0]
        let setup = GlobalOptions(arguments).setup
        do {
            let reconciler = try setup.reconciler()
            let outcome = try reconciler.plan()
            let ofGuest = outcome.plan.entries.filter { $0.guest.value == guest || $0.uuid?.value == guest.lowercased() }
            let entries = ofGuest.filter { e in port.map { e.hostPorts.lower <= $0 && $0 <= e.hostPorts.upper } ?? true }
            guard !entries.isEmpty else {
                var why = ofGuest.isEmpty ? "guest \(guest) has no forward installed" : "guest \(guest) has no forward on host port \(port!)"
                if let p = outcome.pending.first(where: { $0.guest.name.value == guest }) { why += ": it is pending (\(p.reason))" }
                let left = outcome.leftOut.filter { $0.guest.value == guest }.map { "\($0.forward.spec) is left out: \($0.message)" }
                throw PortFwdError(.notFound, lines: [why] + left)
            }
            // Each line as soon as it is known, unbuffered: a test or a pager reads along.
            let packets = try Tracer(host: reconciler.host, entries: entries, timeout: Double(timeout), count: count) { line in
                _ = SystemCall.writeAll(1, Array((line + "\n").utf8))
            }.run()
            if packets.isEmpty { throw ExitStatus(1) }
            if packets.contains(where: { if case .left = $0.end { return false }; return true }) { throw ExitStatus(2) }
        } catch let error as PortFwdError {
            throw fail(error)
        }
    }

    static func number(_ text: String?, default value: Int, name: String) throws -> Int {
        guard let text else { return value }
        guard let n = Int(text), n > 0, n <= 86_400 else {
            throw UsageError(message: "\(name) takes a whole number from 1 to 86400, not '\(text)'", command: command)
        }
        return n
    }
}
