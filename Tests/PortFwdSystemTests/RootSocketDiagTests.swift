import Foundation
import Testing
import PortFwdCore
import PortFwdSystem
#if canImport(Glibc)
import Glibc
#endif

/// sock_diag and /proc/net agree: in a fresh namespace, random sets of TCP listeners, bound and
/// connected UDP sockets and established TCP connections, of both families, on wildcard,
/// loopback and other addresses, opened under several uids, give exactly the same Listener
/// values through both readers, and exactly the sockets the test meant to be listening.
@Suite(.privileged, .serialized) struct RootSocketDiagTests {
    static let v4: [IPAddress?] = [nil, IPAddress("127.0.0.1")!, IPAddress("127.0.0.2")!, IPAddress("198.51.100.1")!]
    static let v6: [IPAddress?] = [nil, IPAddress("::1")!, IPAddress("2001:db8::1")!]
    static let uids: [UInt32] = [0, 0, 999, 1001, 60001, 65534]

    @Test func bothReadersSeeTheSameListeners() throws {
        var rng = SplitMix.printed("RootSocketDiagTests.bothReadersSeeTheSameListeners")
        try Namespace.with { ns in
            try Shell.run("""
                ip -n \(ns.name) link set lo up &&
                ip -n \(ns.name) addr add 198.51.100.1/32 dev lo && ip -n \(ns.name) addr add 2001:db8::1/128 dev lo nodad
                """)
            let procNet = ns.procNet
            for round in 0..<6 {
                let sockets = TestSockets(rng: SplitMix(seed: rng.next()))
                let (expected, diag, files) = try IsolatedNetwork.run(in: ns.name) {
                    var opened = sockets
                    defer { opened.closeAll() }
                    opened.openRandomSets()
                    return (opened.listening, SocketDiag.listening(), HostSockets.listening(files: procNet))
                }
                #expect(Set(expected.map(\.proto)) == [.tcp, .udp], "round \(round) opened a listener of each protocol: \(expected)")
                #expect(diag.map(Self.counted) == Self.counted(files), "round \(round): sock_diag \(diag ?? []) /proc/net \(files)")
                #expect(Self.counted(files) == Self.counted(expected), "round \(round): /proc/net \(files), opened \(expected)")
            }
        }
    }

    static func counted(_ listeners: [Listener]) -> [Listener: Int] { Dictionary(listeners.map { ($0, 1) }, uniquingKeysWith: +) }
}

/// The sockets one round opens, on a thread inside the namespace; `listening` is what the
/// readers must report of them.
struct TestSockets: @unchecked Sendable {
    var rng: SplitMix
    var fds: [Int32] = []
    var listening: [Listener] = []
    /// TCP listeners opened so far, to connect to: family, address and port.
    var listeners: [(family: Int32, address: IPAddress?, port: UInt16)] = []

    init(rng: SplitMix) { self.rng = rng }

    /// A TCP listener and a bound UDP socket first, so that no round is empty, then anything.
    mutating func openRandomSets() {
        for kind: UInt64 in [0, 1] + (0..<Int(rng.next() % 40)).map({ _ in rng.next() % 4 }) {
            let family = rng.next() % 2 == 0 ? AF_INET : AF_INET6
            let pool = family == AF_INET ? RootSocketDiagTests.v4 : RootSocketDiagTests.v6
            let address = pool[Int(rng.next() % UInt64(pool.count))]
            let uid = RootSocketDiagTests.uids[Int(rng.next() % UInt64(RootSocketDiagTests.uids.count))]
            let port = UInt16(20000 + rng.next() % 200)
            switch kind {
            case 0: listen(family, address, port, uid: uid)
            case 1: bound(family, address, port, uid: uid)
            case 2: connectedDatagram(family, address, port, uid: uid)
            default: established(uid: uid)
            }
        }
    }

    /// A socket made under `uid` (the file-system uid, which the kernel records as the
    /// socket's owner), for this thread only.
    mutating func socket(_ family: Int32, _ type: __socket_type, uid: UInt32) -> Int32 {
        typealias SetFSUID = @convention(c) (UInt32) -> Int32
        let setfsuid = unsafeBitCast(dlsym(nil, "setfsuid")!, to: SetFSUID.self)
        _ = setfsuid(uid)
        let fd = Glibc.socket(family, Int32(type.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        _ = setfsuid(0)
        if fd >= 0 { fds.append(fd) }
        if family == AF_INET6, fd >= 0 {
            var only: Int32 = rng.next() % 2 == 0 ? 1 : 0
            _ = setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &only, socklen_t(MemoryLayout<Int32>.size))
        }
        return fd
    }

    func inode(_ fd: Int32) -> UInt64 {
        var status = stat()
        return fstat(fd, &status) == 0 ? UInt64(status.st_ino) : 0
    }

    mutating func listen(_ family: Int32, _ address: IPAddress?, _ port: UInt16, uid: UInt32) {
        let fd = socket(family, SOCK_STREAM, uid: uid)
        guard fd >= 0, Self.bind(fd, family, address, port), Glibc.listen(fd, 16) == 0 else { return }
        listening.append(Listener(proto: .tcp, address: address, port: port, inode: inode(fd), uid: uid))
        listeners.append((family, address, port))
    }

    mutating func bound(_ family: Int32, _ address: IPAddress?, _ port: UInt16, uid: UInt32) {
        let fd = socket(family, SOCK_DGRAM, uid: uid)
        guard fd >= 0, Self.bind(fd, family, address, port) else { return }
        listening.append(Listener(proto: .udp, address: address, port: port, inode: inode(fd), uid: uid))
    }

    /// Bound or not, connected to a peer: it takes only that peer's datagrams, so it is none.
    mutating func connectedDatagram(_ family: Int32, _ address: IPAddress?, _ port: UInt16, uid: UInt32) {
        let fd = socket(family, SOCK_DGRAM, uid: uid)
        guard fd >= 0 else { return }
        if rng.next() % 2 == 0 { _ = Self.bind(fd, family, address, port) }
        let peer = family == AF_INET ? IPAddress("127.0.0.1")! : IPAddress("::1")!
        _ = Self.connect(fd, family, peer, UInt16(30000 + rng.next() % 1000))
    }

    /// A connection to one of the listeners (both ends established, neither listening).
    mutating func established(uid: UInt32) {
        guard !listeners.isEmpty else { return }
        let target = listeners[Int(rng.next() % UInt64(listeners.count))]
        let peer = target.address ?? (target.family == AF_INET ? IPAddress("127.0.0.1")! : IPAddress("::1")!)
        let fd = socket(target.family, SOCK_STREAM, uid: uid)
        guard fd >= 0, Self.connect(fd, target.family, peer, target.port) else { return }
    }

    func closeAll() { for fd in fds { close(fd) } }

    static func bind(_ fd: Int32, _ family: Int32, _ address: IPAddress?, _ port: UInt16) -> Bool {
        with(family, address, port) { Glibc.bind(fd, $0, $1) == 0 }
    }

    static func connect(_ fd: Int32, _ family: Int32, _ address: IPAddress, _ port: UInt16) -> Bool {
        with(family, address, port) { Glibc.connect(fd, $0, $1) == 0 }
    }

    static func with(_ family: Int32, _ address: IPAddress?, _ port: UInt16, _ body: (UnsafePointer<sockaddr>, socklen_t) -> Bool) -> Bool {
        if family == AF_INET {
            var a = sockaddr_in()
            a.sin_family = sa_family_t(AF_INET)
            a.sin_port = port.bigEndian
            if let address { withUnsafeMutableBytes(of: &a.sin_addr) { $0.copyBytes(from: address.bytes) } }
            return withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0,
                socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        }
        var a = sockaddr_in6()
        a.sin6_family = sa_family_t(AF_INET6)
        a.sin6_port = port.bigEndian
        if let address { withUnsafeMutableBytes(of: &a.sin6_addr) { $0.copyBytes(from: address.bytes) } }
        return withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0,
            socklen_t(MemoryLayout<sockaddr_in6>.size)) } }
    }
}
