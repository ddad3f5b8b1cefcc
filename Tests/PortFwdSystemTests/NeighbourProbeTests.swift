import Foundation
import Synchronization
import Testing
@testable import PortFwdCore
@testable import PortFwdSystem

/// The host's own question to a guest's MAC (`NeighbourQuestion`, `NeighbourProbe`): only a
/// frame from that MAC saying it holds the address is an answer, and on a real bridge only a
/// guest that holds the address gives one. A neighbour entry alone (what dnsmasq writes for a
/// DHCP request naming any MAC) gets none.
@Suite struct NeighbourQuestionTests {
    static let guest = MAC("52:54:00:00:00:20")!
    static let own: [UInt8] = [0x52, 0x54, 0x00, 0xaa, 0xbb, 0x01]

    func reply(_ q: NeighbourQuestion, from mac: [UInt8], saying address: IPAddress, op: UInt16 = 2) -> [UInt8] {
        let arp: [UInt8] = [0x08, 0x06, 0, 1, 0x08, 0x00, 6, 4, UInt8(op >> 8), UInt8(op & 0xff)]
        let target: [UInt8] = q.ownAddress?.bytes ?? [0, 0, 0, 0]
        var f: [UInt8] = Self.own
        for part in [mac, arp, mac, address.bytes, Self.own, target] { f.append(contentsOf: part) }
        return f
    }

    @Test func anARPRequestGoesToTheGuestsMACAndOnlyItsReplyCounts() throws {
        let address = IPAddress("192.168.122.58")!
        let q = try #require(NeighbourQuestion(address: address, mac: Self.guest, ownMAC: Self.own, ownAddress: IPAddress("192.168.122.1")))
        let frame = q.frame
        #expect(frame.count == 42)
        #expect(Array(frame[0..<6]) == [0x52, 0x54, 0, 0, 0, 0x20] && Array(frame[6..<12]) == Self.own)
        #expect(Array(frame[12..<14]) == [0x08, 0x06] && Array(frame[20..<22]) == [0, 1])
        #expect(Array(frame[28..<32]) == [192, 168, 122, 1] && Array(frame[38..<42]) == address.bytes)
        let mac: [UInt8] = [0x52, 0x54, 0, 0, 0, 0x20]
        #expect(q.isAnswer(ArraySlice(reply(q, from: mac, saying: address))))
        // Another MAC, another address, a request, a runt: none is the answer.
        #expect(!q.isAnswer(ArraySlice(reply(q, from: [0x52, 0x54, 0, 0, 0, 0x30], saying: address))))
        #expect(!q.isAnswer(ArraySlice(reply(q, from: mac, saying: IPAddress("192.168.122.59")!))))
        #expect(!q.isAnswer(ArraySlice(reply(q, from: mac, saying: address, op: 1))))
        #expect(!q.isAnswer(ArraySlice(reply(q, from: mac, saying: address).prefix(41))))
        // The Ethernet source is the guest's, the ARP sender another's (or the reverse).
        var mixed = reply(q, from: mac, saying: address)
        mixed.replaceSubrange(22..<28, with: [0x52, 0x54, 0, 0, 0, 0x30])
        #expect(!q.isAnswer(ArraySlice(mixed)))
        mixed = reply(q, from: mac, saying: address)
        mixed.replaceSubrange(6..<12, with: [0x52, 0x54, 0, 0, 0, 0x30])
        #expect(!q.isAnswer(ArraySlice(mixed)))
    }

    /// Without an address of its own in the guest's subnet, an ARP probe (RFC 5227), from 0.0.0.0.
    @Test func withoutAnAddressOfItsOwnTheHostSendsAProbe() throws {
        let q = try #require(NeighbourQuestion(address: IPAddress("192.168.122.58")!, mac: Self.guest, ownMAC: Self.own, ownAddress: nil))
        #expect(Array(q.frame[28..<32]) == [0, 0, 0, 0])
        #expect(NeighbourQuestion(address: IPAddress("192.168.122.58")!, mac: Self.guest, ownMAC: Self.own, ownAddress: IPAddress("fe80::1")) == nil)
    }

    /// A solicitation carries a checksum the guest's kernel accepts (checked the way a receiver
    /// does: the sum over the pseudo-header and the message is all ones), hop limit 255, and
    /// goes to the address itself, or to its solicited-node group when sent from ::.
    @Test func aSolicitationIsWellFormed() throws {
        let address = IPAddress("fd00:122::8a3f:19c4")!
        for source in [IPAddress("fe80::5054:ff:feaa:bb01"), nil] {
            let q = try #require(NeighbourQuestion(address: address, mac: Self.guest, ownMAC: Self.own, ownAddress: source))
            let f = q.frame
            #expect(Array(f[12..<14]) == [0x86, 0xdd] && f[20] == 58 && f[21] == 255)
            let src = Array(f[22..<38]), dst = Array(f[38..<54]), icmp = Array(f[54...])
            let length: Int = Int(f[18]) << 8 | Int(f[19])
            #expect(length == icmp.count)
            #expect(icmp[0] == 135 && Array(icmp[8..<24]) == address.bytes)
            #expect(NeighbourQuestion.checksum(source: src, destination: dst, icmp: icmp) == 0, "a receiver's sum is all ones")
            if source == nil {
                let group: [UInt8] = [0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0x3f, 0x19, 0xc4]
                #expect(dst == group && icmp.count == 24)
            } else {
                let option: [UInt8] = [1, 1] + Self.own
                #expect(dst == address.bytes && Array(icmp[24..<32]) == option)
            }
        }
    }

    /// Random frames, and the answer with random bytes changed: never a crash, and an answer
    /// only when the bytes that say who and what are intact.
    @Test func randomFramesAreNoAnswer() throws {
        let address = IPAddress("192.168.122.58")!
        let q = try #require(NeighbourQuestion(address: address, mac: Self.guest, ownMAC: Self.own, ownAddress: IPAddress("192.168.122.1")))
        let good = reply(q, from: [0x52, 0x54, 0, 0, 0, 0x20], saying: address)
        var rng = SplitMix.printed("NeighbourProbeTests.randomFramesAreNoAnswer")
        let vital: Set<Int> = Set(6..<22).union(22..<32)
        for _ in 0..<20_000 {
            var f = good
            let at = Int.random(in: 0..<f.count, using: &rng)
            let value = UInt8.random(in: 0...255, using: &rng)
            f[at] = value
            let cut = Int.random(in: 0...f.count, using: &rng)
            let frame = Array(f.prefix(cut))
            let changed = vital.contains(at) && value != good[at]
            #expect(q.isAnswer(ArraySlice(frame)) == (!changed && cut >= 42), "byte \(at) = \(value), \(cut) bytes")
        }
    }
}

/// One plan's waiting is bounded, however many entries it asks about and in whatever order: a
/// guest can have dnsmasq write hundreds of addresses at its own MAC and keep them there. The
/// fake asker sleeps for as long as it is allowed, as questions nobody answers do.
@Suite struct NeighbourProbeSessionTests {
    @Test func aPlanWaitsAtMostTwiceTheWaitThenAFewMillisecondsEach() {
        let allowed = Mutex<[Double]>([])
        let session = NeighbourProbe.Session(wait: 0.02) { _, wait in
            allowed.withLock { $0.append(wait) }
            usleep(UInt32(wait * 1_000_000))
            return []
        }
        let entry = Neighbour(address: IPAddress("192.168.122.99")!, mac: MAC("52:54:00:00:00:30")!, interface: "virbr0")
        for _ in 0..<10 { #expect(session.answered([entry]).isEmpty) }
        #expect(session.answered([]).isEmpty)
        let waits = allowed.withLock { $0 }
        #expect(waits.count == 10, "no question, no asking: \(waits)")
        #expect(waits.prefix(2).allSatisfy { $0 <= 0.02 + 1e-9 } && waits.prefix(2).reduce(0, +) <= 0.04 + 1e-9, "\(waits)")
        #expect(waits.dropFirst(2).allSatisfy { abs($0 - 0.005) < 1e-9 }, "\(waits)")
        #expect(session.waited <= 0.04 + 8 * 0.005 + 1e-9)
    }
}

/// On a real bridge: a guest namespace that holds the address answers, at its own MAC, both
/// families; an entry at a MAC nobody answers from, and an address the guest does not hold, get
/// nothing; and the question goes out even when the bridge has no address of its own.
@Suite(.privileged, .serialized) struct RootNeighbourProbeTests {
    @Test func onlyTheGuestThatHoldsTheAddressAnswers() throws {
        try Namespace.with { host in
            try Namespace.with { guest in
                try Shell.run("""
                    ip -n \(host.name) link add virbr0 type bridge && ip -n \(host.name) link set virbr0 up &&
                    ip -n \(host.name) link add vnet0 type veth peer name eth0 netns \(guest.name) &&
                    ip -n \(host.name) link set vnet0 master virbr0 && ip -n \(host.name) link set vnet0 up &&
                    ip -n \(guest.name) link set eth0 address 52:54:00:00:00:20 && ip -n \(guest.name) link set eth0 up &&
                    ip -n \(guest.name) addr add 192.168.122.20/24 dev eth0 && ip -n \(guest.name) addr add fd00:122::20/64 dev eth0 nodad
                    """)
                let mac = MAC("52:54:00:00:00:20")!, other = MAC("52:54:00:00:00:30")!
                func ask(_ address: String, _ at: MAC) throws -> Bool {
                    try IsolatedNetwork.run(in: host.name) {
                        let entry = Neighbour(address: IPAddress(address)!, mac: at, interface: "virbr0")
                        return NeighbourProbe.ask([entry]).contains(entry)
                    }
                }
                // No address on the bridge yet: a probe from 0.0.0.0 and a solicitation from ::
                // (until the bridge's link-local address is there).
                try waitFor("the guest to answer an ARP probe") { try ask("192.168.122.20", mac) }
                try waitFor("the guest to answer a solicitation") { try ask("fd00:122::20", mac) }
                try Shell.run("ip -n \(host.name) addr add 192.168.122.1/24 dev virbr0 && ip -n \(host.name) addr add fd00:122::1/64 dev "
                    + "virbr0 nodad")
                try waitFor("the bridge's link-local address") {
                    Shell.capture("ip -n \(host.name) -6 addr show dev virbr0 scope link").stdout.contains("fe80::") }
                try waitFor("the guest to answer its gateway, both families") { try ask("192.168.122.20", mac) && ask("fd00:122::20", mac) }
                // Answered at the guest's MAC only, and only for what it holds.
                #expect(try !ask("192.168.122.20", other))
                #expect(try !ask("fd00:122::20", other))
                #expect(try !ask("192.168.122.21", mac))
                #expect(try !ask("fd00:122::21", mac))
                // Two hundred questions nobody answers and one the guest does, all at once: the
                // one answer, within one wait.
                let many = try IsolatedNetwork.run(in: host.name) {
                    let entries = (100..<300).map { Neighbour(address: IPAddress("192.168.\(122 + $0 / 200).\($0 % 200 + 10)")!, mac: mac,
                        interface: "virbr0") }
                    return NeighbourProbe.ask(entries + [Neighbour(address: IPAddress("192.168.122.20")!, mac: mac, interface: "virbr0")])
                }
                #expect(many == [Neighbour(address: IPAddress("192.168.122.20")!, mac: mac, interface: "virbr0")], "\(many)")
                #expect(try IsolatedNetwork.run(in: host.name) {
                    NeighbourProbe.ask([Neighbour(address: IPAddress("192.168.122.20")!, mac: mac, interface: "virbr404")])
                }.isEmpty, "an interface that does not exist")
            }
        }
    }
}
