import Foundation
import Testing
import PortFwdCore
import PortFwdSystem

/// The host's listening sockets through sock_diag: the parse of the kernel's answer (typed,
/// filtered as the /proc/net reader filters, and safe on any bytes), and on a real namespace
/// the same Listener values as /proc/net for random sets of sockets.
@Suite struct SocketDiagTests {
    /// One message of an answer: struct nlmsghdr, then struct inet_diag_msg.
    static func message(family: UInt8, state: UInt8, port: UInt16, remotePort: UInt16 = 0, address: [UInt8], uid: UInt32, inode: UInt32) -> [UInt8] {
        var body = [UInt8](repeating: 0, count: 72)
        body[0] = family
        body[1] = state
        body[4] = UInt8(port >> 8)
        body[5] = UInt8(port & 0xff)
        body[6] = UInt8(remotePort >> 8)
        body[7] = UInt8(remotePort & 0xff)
        body.replaceSubrange(8..<(8 + address.count), with: address)
        body.replaceSubrange(64..<68, with: withUnsafeBytes(of: uid.littleEndian, Array.init))
        body.replaceSubrange(68..<72, with: withUnsafeBytes(of: inode.littleEndian, Array.init))
        return header(type: 20, length: 16 + body.count) + body
    }

    static func header(type: UInt16, length: Int) -> [UInt8] {
        let lengthBytes: [UInt8] = withUnsafeBytes(of: UInt32(length).littleEndian, Array.init)
        let typeBytes: [UInt8] = withUnsafeBytes(of: type.littleEndian, Array.init)
        return lengthBytes + typeBytes + [2, 0] + [UInt8](repeating: 0, count: 8)
    }

    /// NLMSG_DONE, with its int; NLMSG_ERROR, with an error and the request's header.
    static let done: [UInt8] = header(type: 3, length: 20) + [0, 0, 0, 0]
    static let error: [UInt8] = header(type: 2, length: 36) + withUnsafeBytes(of: Int32(-2).littleEndian, Array.init) + header(type: 20, length: 72)

    @Test func listenersAreTypedAndFilteredAsTheFilesAre() {
        let v6 = IPAddress("2001:db8::1")!.bytes
        var tcp = SocketDiagMessages(proto: .tcp)
        let tcpBytes: [UInt8] = Self.message(family: 2, state: 10, port: 22, address: [0, 0, 0, 0], uid: 0, inode: 111)
            + Self.message(family: 10, state: 10, port: 8080, address: v6, uid: 1001, inode: 112)
            + Self.message(family: 2, state: 1, port: 9000, address: [127, 0, 0, 1], uid: 0, inode: 113)       // established
            + Self.message(family: 7, state: 10, port: 9001, address: [127, 0, 0, 1], uid: 0, inode: 114)      // no such family
        tcp.parse(ArraySlice(tcpBytes))
        #expect(!tcp.done)
        tcp.parse(ArraySlice(Self.done))
        #expect(tcp.done && !tcp.failed)
        #expect(tcp.entries == [Listener(proto: .tcp, address: nil, port: 22, inode: 111, uid: 0),
                                Listener(proto: .tcp, address: IPAddress("2001:db8::1")!, port: 8080, inode: 112, uid: 1001)])

        var udp = SocketDiagMessages(proto: .udp)
        let udpBytes: [UInt8] = Self.message(family: 2, state: 7, port: 53, address: [198, 51, 100, 1], uid: 0, inode: 211)
            + Self.message(family: 2, state: 7, port: 5353, remotePort: 53, address: [0, 0, 0, 0], uid: 0, inode: 212)  // connected
            + Self.message(family: 10, state: 7, port: 547, address: [UInt8](repeating: 0, count: 16), uid: 65534, inode: 213)
        udp.parse(ArraySlice(udpBytes + Self.done + Self.message(family: 2, state: 7, port: 1, address: [0, 0, 0, 0], uid: 0, inode: 9)))
        #expect(udp.done && !udp.failed)
        #expect(udp.entries == [Listener(proto: .udp, address: IPAddress("198.51.100.1")!, port: 53, inode: 211, uid: 0),
                                Listener(proto: .udp, address: nil, port: 547, inode: 213, uid: 65534)], "nothing after NLMSG_DONE counts")
    }

    /// The kernel refusing the question (no udp_diag, say) ends the answer as failed: the
    /// caller then reads the files instead.
    @Test func anErrorEndsTheAnswerAsFailed() {
        var parser = SocketDiagMessages(proto: .udp)
        parser.parse(ArraySlice(Self.error))
        #expect(parser.done && parser.failed && parser.entries.isEmpty)
    }

    /// Lengths that lie, messages cut short, random bytes: parsed without a trap, and never
    /// more listeners than messages that fit.
    @Test func hostileAnswersNeverTrap() {
        var rng = SplitMix.printed("SocketDiagTests.hostileAnswersNeverTrap")
        let good: [UInt8] = Self.message(family: 2, state: 10, port: 22, address: [0, 0, 0, 0], uid: 0, inode: 1)
            + Self.message(family: 10, state: 10, port: 23, address: IPAddress("2001:db8::1")!.bytes, uid: 5, inode: 2)
        let pieces: [[UInt8]] = [good, Self.done, Self.error, Self.header(type: 20, length: 16), Self.header(type: 20, length: 1 << 30)]
        for _ in 0..<20_000 {
            var bytes: [UInt8] = []
            for _ in 0..<(1 + Int(rng.next() % 3)) { bytes += pieces[Int(rng.next() % UInt64(pieces.count))] }
            for _ in 0..<Int(rng.next() % 6) { bytes[Int(rng.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: rng.next()) }
            bytes = Array(bytes.prefix(Int(rng.next() % UInt64(bytes.count + 1))))
            var parser = SocketDiagMessages(proto: rng.next() % 2 == 0 ? .tcp : .udp)
            parser.parse(ArraySlice(bytes))
            #expect(parser.entries.count <= bytes.count / 88)
            #expect(parser.entries.allSatisfy { $0.proto == parser.proto })
        }
    }
}
