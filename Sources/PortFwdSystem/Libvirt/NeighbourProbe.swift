import CLinux
import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif
import PortFwdCore
import Synchronization

/// Asks, on the bridge, whether a guest's MAC answers for an address (`NeighbourQuestion`): the
/// proof that a neighbour entry is the guest's own doing before a lease move or a guest's claim
/// counts. Every question of one call goes out at once, over one packet socket per interface
/// and family, twice (the second time after a fifth of the wait), and answers are awaited for
/// at most the wait: many entries cost one wait, not one each. Answers are kept for half a
/// second, so the plans of one check ask once.
public enum NeighbourProbe {
    public static let timeout = 0.25
    /// In a hook, libvirt waits for it, and a guest being started runs no code yet: a guest that
    /// runs answers within a millisecond, and one that does not is the service's to ask again.
    public static let hookTimeout = 0.05
    static let kept = 0.5

    private static let known = Mutex<[Neighbour: (at: Double, answered: Bool)]>([:])

    /// Which of `entries` answer, asking those not known from the last half second.
    public static func answered(_ entries: [Neighbour], within timeout: Double) -> Set<Neighbour> {
        let now = monotonic()
        var result = Set<Neighbour>(), unknown: [Neighbour] = []
        known.withLock { table in
            for entry in Set(entries) {
                if let last = table[entry], now - last.at < kept {
                    if last.answered { result.insert(entry) }
                } else {
                    unknown.append(entry)
                }
            }
        }
        guard !unknown.isEmpty else { return result }
        let asked = ask(unknown, within: timeout)
        let at = monotonic()
        known.withLock { table in
            if table.count > 4096 { table.removeAll() }
            for entry in unknown { table[entry] = (at, asked.contains(entry)) }
        }
        return result.union(asked)
    }

    /// The time one plan may spend waiting for answers: whatever asks for many entries, in
    /// whatever order (a guest can have dnsmasq write hundreds of addresses at its own MAC, and
    /// keep them there), a plan waits at most twice the wait; after that, each question gets a
    /// few milliseconds, which a guest that runs needs (it answers within one).
    public final class Session: Sendable {
        let wait: Double
        let ask: @Sendable ([Neighbour], Double) -> Set<Neighbour>
        private let spent = Mutex(0.0)
        static let least = 0.005

        public init(wait: Double, ask: @escaping @Sendable ([Neighbour], Double) -> Set<Neighbour> = NeighbourProbe.answered) {
            self.wait = wait
            self.ask = ask
        }

        public func answered(_ entries: [Neighbour]) -> Set<Neighbour> {
            guard !entries.isEmpty else { return [] }
            let allowed = spent.withLock { max(Self.least, min(wait, 2 * wait - $0)) }
            let started = monotonic()
            let result = ask(entries, allowed)
            let elapsed = monotonic() - started
            spent.withLock { $0 += min(elapsed, allowed) }
            return result
        }

        /// The time waited so far, for tests.
        public var waited: Double { spent.withLock { $0 } }
    }

    /// One exchange for every entry: none answers when its interface or MAC is unknown, a
    /// socket cannot be had (no CAP_NET_RAW), or nothing comes in time.
    static func ask(_ entries: [Neighbour], within timeout: Double = timeout) -> Set<Neighbour> {
        struct Link {
            var fd: Int32
            var questions: [(entry: Neighbour, question: NeighbourQuestion)]
            var frames: [[UInt8]]
            /// The questions by the MAC that must answer them: a frame from any other is skipped.
            var byMAC: [[UInt8]: [Int]]
        }
        var links: [Link] = []
        defer { for link in links { close(link.fd) } }
        let grouped = Dictionary(grouping: entries) { "\($0.interface) \($0.address.family == .ipv4 ? 4 : 6)" }
        for (_, group) in grouped {
            guard let first = group.first else { continue }
            let index = if_nametoindex(first.interface)
            let own = own(first)
            guard index > 0, let ownMAC = own.mac else { continue }
            let questions = group.compactMap { e in
                NeighbourQuestion(address: e.address, mac: e.mac, ownMAC: ownMAC, ownAddress: own.address).map { (e, $0) }
            }
            guard let sample = questions.first?.1 else { continue }
            let protocolNumber = UInt16(sample.etherType).bigEndian
            let fd = socket(AF_PACKET, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), Int32(protocolNumber))
            guard fd >= 0 else { continue }
            var link = sockaddr_ll()
            link.sll_family = UInt16(AF_PACKET)
            link.sll_protocol = protocolNumber
            link.sll_ifindex = Int32(index)
            let bound = withUnsafePointer(to: &link) { p in
                p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_ll>.size)) }
            }
            guard bound == 0 else {
                close(fd)
                continue
            }
            var byMAC: [[UInt8]: [Int]] = [:]
            for (i, q) in questions.enumerated() { byMAC[q.1.mac, default: []].append(i) }
            links.append(Link(fd: fd, questions: questions, frames: questions.map(\.1.frame), byMAC: byMAC))
        }
        var answered = Set<Neighbour>()
        // What can be answered at all: questions sent on a socket, each entry once.
        let asked = Set(links.flatMap { $0.questions.map(\.entry) })
        guard !asked.isEmpty else { return answered }
        let again = timeout / 5
        let started = monotonic()
        var sent = 0
        var buffer = [UInt8](repeating: 0, count: 2048)
        // What has arrived on one socket, without waiting for more; a flood of frames is read
        // in bounded bites, the deadline checked between them.
        func drain(_ link: Link) {
            for _ in 0..<256 {
                var from = sockaddr_ll()
                var length = socklen_t(MemoryLayout<sockaddr_ll>.size)
                let n = buffer.withUnsafeMutableBytes { raw in
                    withUnsafeMutablePointer(to: &from) { p in
                        p.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                            recvfrom(link.fd, raw.baseAddress, raw.count, Int32(MSG_DONTWAIT), $0, &length)
                        }
                    }
                }
                guard n > 0 else { return }
                // Our own frames come back as outgoing; only what arrived counts.
                guard from.sll_pkttype != UInt8(PACKET_OUTGOING) else { continue }
                guard n >= 14, let candidates = link.byMAC[Array(buffer[6..<12])] else { continue }
                for i in candidates where !answered.contains(link.questions[i].entry) && link.questions[i].question.isAnswer(buffer[..<n]) {
                    answered.insert(link.questions[i].entry)
                }
            }
        }
        while answered.count < asked.count {
            let elapsed = monotonic() - started
            if elapsed >= timeout {
                // A process the scheduler kept off the CPU past the wait reads what came
                // meanwhile: a guest answers within a millisecond, however busy the host.
                for link in links { drain(link) }
                break
            }
            if sent < 2 && elapsed >= Double(sent) * again {
                for link in links {
                    for (i, frame) in link.frames.enumerated() where !answered.contains(link.questions[i].entry) {
                        _ = frame.withUnsafeBytes { send(link.fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
                    }
                }
                sent += 1
            }
            let wait = sent < 2 ? min(again - elapsed, timeout - elapsed) : timeout - elapsed
            var fds = links.map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) }
            guard poll(&fds, nfds_t(fds.count), Int32(max(1, (wait * 1000).rounded(.up)))) > 0 else { continue }
            for (l, link) in links.enumerated() where fds[l].revents & Int16(POLLIN) != 0 { drain(link) }
        }
        return answered
    }

    /// The interface's MAC, and its own address to be answered at: its IPv4 address in the
    /// guest's subnet (a guest answers its gateway), or its IPv6 link-local address; none for a
    /// probe without one. From getifaddrs(3), which asks rtnetlink in the caller's namespace
    /// (sysfs shows the namespace it was mounted in).
    static func own(_ entry: Neighbour) -> (mac: [UInt8]?, address: IPAddress?) {
        var head: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&head) == 0 else { return (nil, nil) }
        defer { freeifaddrs(head) }
        var mac: [UInt8]?, address: IPAddress?
        var cursor = head
        while let item = cursor {
            defer { cursor = item.pointee.ifa_next }
            guard let sa = item.pointee.ifa_addr, String(cString: item.pointee.ifa_name) == entry.interface else { continue }
            switch (Int32(sa.pointee.sa_family), entry.address.family) {
            case (AF_PACKET, _):
                let link = sa.withMemoryRebound(to: sockaddr_ll.self, capacity: 1) { $0.pointee }
                if link.sll_halen == 6 { mac = withUnsafeBytes(of: link.sll_addr) { Array($0.prefix(6)) } }
            case (AF_INET, .ipv4):
                guard address == nil, let mask = item.pointee.ifa_netmask else { continue }
                let bytes = sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { p in withUnsafeBytes(of: p.pointee.sin_addr) { Array($0) } }
                let m = mask.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { p in withUnsafeBytes(of: p.pointee.sin_addr) { Array($0) } }
                if zip(zip(bytes, entry.address.bytes), m).allSatisfy({ $0.0 & $1 == $0.1 & $1 }) { address = IPAddress(family: .ipv4, bytes: bytes) }
            case (AF_INET6, .ipv6):
                let bytes = sa.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { p in withUnsafeBytes(of: p.pointee.sin6_addr) { Array($0) } }
                if address == nil && bytes[0] == 0xfe && bytes[1] & 0xc0 == 0x80 { address = IPAddress(family: .ipv6, bytes: bytes) }
            default:
                continue
            }
        }
        return (mac, address)
    }

    static func monotonic() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
    }
}
