import Foundation
import Testing
@testable import PortFwd
@testable import PortFwdCore
@testable import PortFwdSystem

/// Random interleavings of starts, stops, metadata changes and lease changes over 3 guests and
/// 4 addresses, through the real hook and the service's reconcile against the in-memory
/// firewall. After every event: no address is installed for two guests, a stopped guest has
/// no element in the table, and no guest-controlled address points at one the admin gave
/// someone else. The seed is printed, so a failure can be replayed.
@Suite struct OwnershipPropertyTests {
    struct Guest {
        let name: String
        let uuid: String
        let mac: String
        /// The host port each guest's forward uses: it tells the guest of a map element.
        let port: Int
    }

    static let guests = [
        Guest(name: "g0", uuid: "00000000-0000-4000-8000-0000000000a0", mac: "52:54:00:00:00:a0", port: 8000),
        Guest(name: "g1", uuid: "00000000-0000-4000-8000-0000000000a1", mac: "52:54:00:00:00:a1", port: 9001),
        Guest(name: "g2", uuid: "00000000-0000-4000-8000-0000000000a2", mac: "52:54:00:00:00:a2", port: 9002),
    ]
    /// .10 is the default network's static host of 52:54:00:00:00:10, a MAC no guest here has.
    static let addresses = ["192.168.122.10", "192.168.122.20", "192.168.122.21", "192.168.122.22"]
    /// g0's config gives it .20: the admin's word. g1 and g2 have only what their owners write.
    static let config = "[[guest]]\nname = \"g0\"\naddress = \"192.168.122.20\"\nforwards = [\"8000:80\"]\n"

    @Test func noAddressIsEverInstalledForTwoGuests() throws {
        let seed = UInt64.random(in: 0...UInt64.max)
        print("OwnershipPropertyTests seed \(seed)")
        var rng = SplitMix(seed: seed)
        for run in 0..<20 {
            try self.run(&rng, events: 60, label: "seed \(seed), run \(run)")
        }
    }

    func run(_ rng: inout SplitMix, events: Int, label: String) throws {
        let host = FakeHost()
        let hook = try host.hook(Self.config)
        var running = Set<String>()
        var metadata: [String: String] = [:]
        var leases: [(mac: String, address: String)] = []
        var trail: [String] = []

        func domain(_ g: Guest) -> Data {
            Fixtures.domain(name: g.name, uuid: g.uuid, metadata: metadata[g.name] ?? "", interfaces: Fixtures.interface(mac: g.mac))
        }
        func writeStatus(_ g: Guest) {
            host.tree.write("run/libvirt/qemu/\(g.name).xml", "<domstatus state='running'>\(String(decoding: domain(g), as: UTF8.self))</domstatus>")
        }
        func writeLeases() {
            let entries = leases.map { #"{"ip-address":"\#($0.address)","mac-address":"\#($0.mac)","expiry-time":0}"# }
            host.tree.write("var/lib/libvirt/dnsmasq/virbr0.status", "[" + entries.joined(separator: ",") + "]")
        }
        func service() throws {
            var change = Change.reapply
            change.syncWithLibvirt = true
            _ = try host.reconciler(Self.config).reconcile(change)
        }

        for _ in 0..<events {
            let g = Self.guests[Int(rng.next() % 3)]
            let address = Self.addresses[Int(rng.next() % 4)]
            switch rng.next() % 5 {
            case 0 where !running.contains(g.name):
                metadata[g.name] = Fixtures.metadata("<forward spec='\(g.port):80'/>" + (rng.next() % 2 == 0 ? "<address>\(address)</address>" : ""))
                trail.append("start \(g.name) \(metadata[g.name]!)")
                if hook.handle(guest: g.name, operation: .named("start"), input: .init(bytes: [UInt8](domain(g)))) == 0 {
                    running.insert(g.name)
                    writeStatus(g)
                }
            case 1 where running.contains(g.name):
                trail.append("stop \(g.name)")
                running.remove(g.name)
                try? FileManager.default.removeItem(atPath: "\(host.tree.path)/run/libvirt/qemu/\(g.name).xml")
                _ = hook.handle(guest: g.name, operation: .named("stopped"), input: .init(bytes: [UInt8](domain(g))))
            case 2 where running.contains(g.name):
                // `virsh metadata --live`, then the service reads the status file.
                metadata[g.name] = Fixtures.metadata("<forward spec='\(g.port):80'/><address>\(address)</address>")
                trail.append("metadata \(g.name) \(address)")
                writeStatus(g)
                try service()
            case 3:
                leases.removeAll { $0.mac == g.mac }
                if rng.next() % 3 != 0 { leases.append((g.mac, address)) }
                trail.append("lease \(g.mac) \(leases.last { $0.mac == g.mac }?.address ?? "none")")
                writeLeases()
                try service()
            default:
                trail.append("service")
                try service()
            }
            check(host: host, running: running, trail: trail, label: label)
        }
    }

    func check(host: FakeHost, running: Set<String>, trail: [String], label: String) {
        let elements = host.nft.elements("dnat4_any")
        var owners: [String: Set<String>] = [:]
        for element in elements {
            // "tcp . PORT : ADDRESS . 80"
            let words = element.split(separator: " ").map(String.init)
            guard words.count == 7, let port = Int(words[2]), let g = Self.guests.first(where: { $0.port == port }) else {
                Issue.record("\(label): unexpected element \(element)")
                continue
            }
            owners[words[4], default: []].insert(g.name)
            #expect(running.contains(g.name), "\(label): stopped guest \(g.name) has \(element)\n\(trail.joined(separator: "\n"))")
            if g.name != "g0" {
                #expect(words[4] != "192.168.122.10", "\(label): \(g.name) took the static host's address\n\(trail.joined(separator: "\n"))")
                #expect(!(running.contains("g0") && words[4] == "192.168.122.20"), "\(label): \(g.name) took g0's configured address\n\(trail.joined(separator: "\n"))")
            }
        }
        for (address, guests) in owners {
            #expect(guests.count <= 1, "\(label): \(address) installed for \(guests.sorted())\n\(trail.joined(separator: "\n"))")
        }
        let recorded = Set(host.records.map(\.name.value))
        #expect(recorded.isSubset(of: running), "\(label): records of stopped guests: \(recorded.subtracting(running))")
    }
}

/// A small seeded generator, so a failing interleaving can be replayed from its seed.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
