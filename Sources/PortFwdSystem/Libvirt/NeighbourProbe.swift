import CLinux
import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif
import PortFwdCore
import Synchronization

/// Asks, on the bridge, whether a guest's MAC answers for an address (`NeighbourQuestion`): the
/// proof that a neighbour entry is the guest's own doing before a lease move or a guest's claim
/// counts. A packet socket on the entry's interface; two questions, the second after a fifth of
/// the wait, and an answer awaited for at most `timeout`. Answers are kept for half a second,
/// so one check that asks several times waits once.
public enum NeighbourProbe {
    public static let timeout = 0.25
    /// In a hook, libvirt waits for it, and a guest being started runs no code yet: a guest that
    /// runs answers within a millisecond, and one that does not is the service's to ask again.
    public static let hookTimeout = 0.05
    static let kept = 0.5

    private static let known = Mutex<[Neighbour: (at: Double, answered: Bool)]>([:])

    public static func answers(_ entry: Neighbour) -> Bool { answers(entry, within: timeout) }

    public static func answers(_ entry: Neighbour, within timeout: Double) -> Bool {
        let now = monotonic()
        if let last = known.withLock({ $0[entry] }), now - last.at < kept { return last.answered }
        let answered = ask(entry, within: timeout)
        known.withLock { table in
            if table.count > 4096 { table.removeAll() }
            table[entry] = (monotonic(), answered)
        }
        return answered
    }

    /// One exchange: false when the interface or its MAC is unknown, a socket cannot be had
    /// (no CAP_NET_RAW), or nothing answers in time.
    static func ask(_ entry: Neighbour, within timeout: Double = timeout) -> Bool {
        let index = if_nametoindex(entry.interface)
        let own = own(entry)
        guard index > 0, let ownMAC = own.mac,
              let question = NeighbourQuestion(address: entry.address, mac: entry.mac, ownMAC: ownMAC, ownAddress: own.address) else { return false }
        let protocolNumber = UInt16(question.etherType).bigEndian
        let fd = socket(AF_PACKET, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), Int32(protocolNumber))
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var link = sockaddr_ll()
        link.sll_family = UInt16(AF_PACKET)
        link.sll_protocol = protocolNumber
        link.sll_ifindex = Int32(index)
        let bound = withUnsafePointer(to: &link) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_ll>.size)) }
        }
        guard bound == 0 else { return false }
        let frame = question.frame
        let again = timeout / 5
        let started = monotonic()
        var sent = 0
        var buffer = [UInt8](repeating: 0, count: 2048)
        while true {
            let elapsed = monotonic() - started
            if elapsed >= timeout { return false }
            if sent < 2 && elapsed >= Double(sent) * again {
                _ = frame.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
                sent += 1
            }
            let wait = sent < 2 ? min(again - elapsed, timeout - elapsed) : timeout - elapsed
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&pfd, 1, Int32(max(1, (wait * 1000).rounded(.up)))) > 0 else { continue }
            var from = sockaddr_ll()
            var length = socklen_t(MemoryLayout<sockaddr_ll>.size)
            let n = buffer.withUnsafeMutableBytes { raw in
                withUnsafeMutablePointer(to: &from) { p in
                    p.withMemoryRebound(to: sockaddr.self, capacity: 1) { recvfrom(fd, raw.baseAddress, raw.count, Int32(MSG_DONTWAIT), $0, &length) }
                }
            }
            // Our own frames come back as outgoing; only what arrived counts.
            guard n > 0, from.sll_pkttype != UInt8(PACKET_OUTGOING) else { continue }
            if question.isAnswer(buffer[..<n]) { return true }
        }
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
