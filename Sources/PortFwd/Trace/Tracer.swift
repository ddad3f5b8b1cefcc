import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif
import PortFwdCore
import PortFwdSystem

/// `libvirt-portfwd trace`: where does a forward's packet die? Sets `meta nftrace` on the next
/// new connections to some forwards (`TraceTable`), reads the kernel's trace events itself
/// (`TraceEvents`, no `nft monitor` child), and follows each packet through every base chain
/// of every table and family until it leaves the host or something drops it. The trace table
/// goes on every way out: the end of the time or the count, an error, SIGINT, SIGTERM, SIGHUP
/// or SIGQUIT; a SIGKILL leaves it inert once its deadline passes (and `flush` removes it).
public struct Tracer {
    public let host: Host
    public let entries: [PlanEntry]
    public let timeout: Double
    public let count: Int
    /// Where each line goes as soon as it is known.
    public let print: (String) -> Void
    /// How long a packet may go without an event before it is taken for lost.
    public var quiet: Double = 1.0

    public init(host: Host, entries: [PlanEntry], timeout: Double, count: Int, print: @escaping (String) -> Void) {
        self.host = host
        self.entries = entries
        self.timeout = timeout
        self.count = count
        self.print = print
    }

    /// The packets followed to their end (or as far as the time allowed).
    public func run() throws(PortFwdError) -> [TracedPacket] {
        // A closed pipe must end the trace like a signal, through the same cleanup.
        signal(SIGPIPE, SIG_IGN)
        let signals = try SignalEvents([SIGINT, SIGTERM, SIGHUP, SIGQUIT])
        let events = try TraceEvents()
        let start = Self.now()
        // The kernel compares the deadline with the wall clock.
        let table = TraceTable(entries: entries, deadline: Int(time(nil)) + Int(timeout.rounded(.up)) + 1)
        try host.nft.commit(table.transaction)
        defer { Self.remove(host.nft) }
        let names = RuleNames(nft: host.nft, commands: host.commands, procNet: host.procNet)
        let targets = entries.map {
            "\($0.family == .ipv6 && $0.hostAddress == nil ? "[::]" : $0.hostAddress.map { "\($0)" } ?? "*"):\($0.hostPorts)/\($0.proto.rawValue)"
        }
        print("tracing \(Set(targets).sorted().joined(separator: ", ")) of guest \(entries.first.map { "\($0.guest)" } ?? "?") for \(Int(timeout)) s "
              + "or \(count) packet\(count == 1 ? "" : "s"); connect to it now")
        var packets: [UInt32: TracedPacket] = [:], order: [UInt32] = [], done: [TracedPacket] = []
        var interrupted = false
        var fds = [pollfd(fd: events.fd, events: Int16(POLLIN), revents: 0), pollfd(fd: signals.fd, events: Int16(POLLIN), revents: 0)]
        while done.count < count {
            let now = Self.now()
            if now >= start + timeout { break }
            for id in order where packets[id]?.end == nil && now - (packets[id]?.lastSeen ?? now) >= quiet {
                packets[id]!.end = .vanished(after: packets[id]!.steps.last)
            }
            for id in order where packets[id]?.end != nil {
                done.append(packets[id]!)
                report(packets[id]!, number: done.count)
                packets[id] = nil
                if done.count >= count { break }
            }
            order.removeAll { packets[$0] == nil }
            if done.count >= count { break }
            let wait = Int32(max(0, min(0.25, start + timeout - now)) * 1000)
            if poll(&fds, nfds_t(fds.count), wait) < 0 && errno != EINTR { throw PortFwdError(.io, "poll: \(SystemCall.reason())") }
            if !signals.drain().isEmpty { interrupted = true; break }
            let (read, overrun) = events.drain()
            if overrun { print("warning: the kernel dropped trace events (too many); some steps may be missing") }
            for event in read where event.table != TraceTable.name || event.chain == TraceTable.leaving {
                if packets[event.id] == nil {
                    if done.contains(where: { $0.id == event.id }) { continue }
                    packets[event.id] = TracedPacket(id: event.id, summary: PacketHeader.summary(event, interfaces: Self.interface),
                                                     lastSeen: Self.now())
                    order.append(event.id)
                }
                guard packets[event.id]!.end == nil else { continue }
                packets[event.id]!.lastSeen = Self.now()
                if event.table == TraceTable.name {
                    packets[event.id]!.end = .left
                    continue
                }
                // The kernel's note that a chain ran out of rules, before its policy or return: no step.
                if event.kind == .rule && event.handle == nil && event.decision == .continue { continue }
                let step = names.step(event)
                packets[event.id]!.steps.append(step)
                switch step.decision {
                case .drop?: packets[event.id]!.end = .dropped(step)
                case .queue?, .stolen?: packets[event.id]!.end = .taken(step)
                default: break
                }
            }
        }
        // What was still on its way when the time ran out.
        for id in order where done.count < count {
            guard var packet = packets[id] else { continue }
            if packet.end == nil { packet.end = .vanished(after: packet.steps.last) }
            done.append(packet)
            report(packet, number: done.count)
        }
        if interrupted { print("interrupted; the trace table is removed") }
        else if done.isEmpty { print("no packet of these forwards came in within \(Int(timeout)) s") }
        return done
    }

    private func report(_ packet: TracedPacket, number: Int) {
        print("packet \(number): \(packet.summary)")
        for step in packet.steps {
            let decision = step.kind == .policy ? "" : step.decision.map { " -> \(Self.describe($0))" } ?? ""
            print("  \(step.hook.padding(12))\(step.place): \(step.rule)\(decision)")
        }
        print("  \(packet.verdict)")
    }

    static func describe(_ decision: TraceEvent.Decision) -> String {
        switch decision {
        case .accept: return "accept"
        case .drop: return "drop"
        case .continue: return "continue"
        case .return: return "return"
        case .queue: return "queue"
        case .stolen: return "stolen"
        case .jump(let c): return "jump \(c)"
        case .goto(let c): return "goto \(c)"
        case .other(let code): return "verdict \(code)"
        }
    }

    static func remove(_ nft: NftablesRunner) {
        try? nft.commit(.delete(.table(.trace)))
    }

    static func interface(_ index: UInt32) -> String? {
        var name = [CChar](repeating: 0, count: Int(IF_NAMESIZE) + 1)
        guard if_indextoname(index, &name) != nil else { return nil }
        return String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func now() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
    }
}

extension String {
    func padding(_ width: Int) -> String { count >= width ? self + " " : self + String(repeating: " ", count: width - count) }
}

/// Names for the places a trace event points at: each base chain's hook, and each rule's text
/// (for iptables-nft's rules, as iptables-save prints them), read once per table.
final class RuleNames {
    let nft: NftablesRunner
    let commands: CommandRunner
    let procNet: String
    private var hooks: [String: String]?
    private var texts: [String: [String: [Int: String]]] = [:]
    private var hook = "?"

    init(nft: NftablesRunner, commands: CommandRunner, procNet: String) {
        self.nft = nft
        self.commands = commands
        self.procNet = procNet
    }

    func step(_ event: TraceEvent) -> TracedPacket.Step {
        let table = "\(event.familyName) \(event.table)"
        if hooks == nil {
            hooks = [:]
            for chain in (try? NftFilterJSON.baseChains(try nft.list(.chains))) ?? [] {
                hooks!["\(chain.family) \(chain.table) \(chain.name)"] = chain.hook
            }
        }
        // A regular chain is on the hook of the base chain that jumped to it.
        if let h = hooks!["\(table) \(event.chain)"] { hook = h }
        let rule: String
        switch event.kind {
        case .policy: rule = "policy " + (event.decision.map(Tracer.describe) ?? "?")
        case .return: rule = "end of chain, back"
        case .rule:
            let handle = event.handle.map(Int.init) ?? -1
            rule = "rule handle \(handle)" + (text(table, event.chain, handle).map { " (\($0))" } ?? "")
        }
        return TracedPacket.Step(hook: hook, place: "table \(table) chain \(event.chain)", rule: rule, decision: event.decision, kind: event.kind)
    }

    private func text(_ table: String, _ chain: String, _ handle: Int) -> String? {
        if texts[table] == nil { texts[table] = load(table) }
        return texts[table]?[chain]?[handle]
    }

    /// Every rule's text by chain and handle. iptables-nft's tables list their rules in the
    /// same order in JSON and in iptables-nft-save, so the handle finds the iptables rule.
    private func load(_ table: String) -> [String: [Int: String]] {
        let words = table.split(separator: " ").map(String.init)
        guard words.count == 2, let listing = try? nft.list(.table(NftTableID(words[0], words[1]))),
              let read = try? NftFilterJSON.table(listing, family: words[0], name: words[1]) else { return [:] }
        var result: [String: [Int: String]] = [:]
        for (name, chain) in read.chains {
            for rule in chain.rules { if let h = rule.handle { result[name, default: [:]][h] = rule.text } }
        }
        if let family = words[0] == "ip" ? Family.ipv4 : words[0] == "ip6" ? Family.ipv6 : nil, Neighbours.iptablesTables.contains(words[1]),
           let saved = try? Iptables(.nft, family, commands: commands, procNet: procNet).save(table: words[1])[words[1]] {
            for (name, chain) in read.chains {
                let handles = chain.rules.compactMap(\.handle)
                let specs = saved.rules(in: name).map(\.spec)
                guard handles.count == specs.count else { continue }
                for (h, spec) in zip(handles, specs) { result[name, default: [:]][h] = spec }
            }
        }
        return result
    }
}
