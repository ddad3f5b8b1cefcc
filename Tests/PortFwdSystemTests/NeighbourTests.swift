import Foundation
import Testing
import PortFwdCore
import PortFwdSystem

/// The host's neighbour tables, read over rtnetlink: what the kernel says is typed (address,
/// MAC, interface); entries without a usable state or a MAC are no sighting; any bytes at all
/// parse without a trap; and on a real namespace, both families are read.
@Suite struct NeighbourTests {
    /// One RTM_NEWNEIGH message: struct nlmsghdr, struct ndmsg, NDA_DST and NDA_LLADDR.
    static func message(family: UInt8, index: Int32 = 7, state: UInt16, address: [UInt8], mac: [UInt8]?) -> [UInt8] {
        func attribute(_ type: UInt16, _ value: [UInt8]) -> [UInt8] {
            let length = 4 + value.count
            return withUnsafeBytes(of: UInt16(length).littleEndian, Array.init) + withUnsafeBytes(of: type.littleEndian, Array.init)
                + value + [UInt8](repeating: 0, count: (4 - length % 4) % 4)
        }
        // One piece at a time: Debian's Swift 6.0.3 gives up on the whole sum as one expression.
        let head: [UInt8] = [family, 0, 0, 0]
        let indexBytes: [UInt8] = withUnsafeBytes(of: index.littleEndian, Array.init)
        let stateBytes: [UInt8] = withUnsafeBytes(of: state.littleEndian, Array.init)
        let macAttribute: [UInt8] = mac.map { attribute(2, $0) } ?? []
        var body: [UInt8] = head + indexBytes
        body += stateBytes
        body += [0, 1]
        body += attribute(1, address)
        body += macAttribute
        let lengthBytes: [UInt8] = withUnsafeBytes(of: UInt32(16 + body.count).littleEndian, Array.init)
        let typeBytes: [UInt8] = withUnsafeBytes(of: UInt16(28).littleEndian, Array.init)
        var message: [UInt8] = lengthBytes + typeBytes
        message += [2, 0]
        message += [UInt8](repeating: 0, count: 8)
        return message + body
    }

    @Test func entriesAreTypedAndOnlyUsableOnesCount() {
        var parser = NeighbourMessages()
        let mac: [UInt8] = [0x52, 0x54, 0, 0, 0, 0x30]
        let bytes = Self.message(family: 2, state: 0x04, address: [192, 168, 122, 60], mac: mac)          // STALE
            + Self.message(family: 10, state: 0x02, address: IPAddress("fd00:122::60")!.bytes, mac: mac)     // REACHABLE
            + Self.message(family: 2, state: 0x20, address: [192, 168, 122, 61], mac: mac)                   // FAILED
            + Self.message(family: 2, state: 0x01, address: [192, 168, 122, 62], mac: nil)                   // INCOMPLETE
            + Self.message(family: 2, state: 0x04, address: [192, 168, 122, 63], mac: [1, 2, 3])             // no MAC
        parser.parse(ArraySlice(bytes), interface: { $0 == 7 ? "virbr0" : nil })
        #expect(parser.entries == [Neighbour(address: IPAddress("192.168.122.60")!, mac: MAC("52:54:00:00:00:30")!, interface: "virbr0"),
                                   Neighbour(address: IPAddress("fd00:122::60")!, mac: MAC("52:54:00:00:00:30")!, interface: "virbr0")])
    }

    /// Lengths that lie, truncated attributes, random bytes: parsed without a trap, and never
    /// more than what fits.
    @Test func hostileMessagesNeverTrap() {
        let seed = ProcessInfo.processInfo.environment["NEIGHBOUR_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 0...UInt64.max)
        print("NeighbourTests seed \(seed) (NEIGHBOUR_SEED=\(seed) replays it)")
        var rng = SplitMix(seed: seed)
        let good = Self.message(family: 2, state: 0x04, address: [192, 168, 122, 60], mac: [0x52, 0x54, 0, 0, 0, 0x30])
        for _ in 0..<20_000 {
            var bytes = good + good
            for _ in 0..<Int(rng.next() % 6) { bytes[Int(rng.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: rng.next()) }
            bytes = Array(bytes.prefix(Int(rng.next() % UInt64(bytes.count + 1))))
            var parser = NeighbourMessages()
            parser.parse(ArraySlice(bytes), interface: { _ in "virbr0" })
            #expect(parser.entries.count <= 2)
        }
    }

    /// A namespace's own tables: an IPv4 and an IPv6 entry put there are read back, with the
    /// interface's name.
    @Test(.privileged) func theKernelsTablesAreReadForBothFamilies() throws {
        try Namespace.with { ns in
            try Shell.run("""
                ip netns exec \(ns.name) sh -c 'ip link add virbr0 type bridge && ip link set virbr0 up &&
                ip neigh replace 192.168.122.60 lladdr 52:54:00:00:00:30 dev virbr0 nud stale &&
                ip neigh replace fd00:122::60 lladdr 52:54:00:00:00:31 dev virbr0 nud reachable'
                """)
            let entries = try IsolatedNetwork.run(in: ns.name) { Neighbours.current() }
            #expect(entries.contains(Neighbour(address: IPAddress("192.168.122.60")!, mac: MAC("52:54:00:00:00:30")!, interface: "virbr0")),
                "\(entries)")
            #expect(entries.contains(Neighbour(address: IPAddress("fd00:122::60")!, mac: MAC("52:54:00:00:00:31")!, interface: "virbr0")),
                "\(entries)")
        }
    }
}
