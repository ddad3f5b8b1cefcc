import Foundation
import Testing
import PortFwdCore

/// Random interleavings of starts, stops, live metadata changes, honest and forged DHCP leases
/// (another guest's MAC with the forger's own client identity, as one DHCPREQUEST makes
/// dnsmasq record) and honest and forged neighbour entries (frames naming an address at the
/// sender's MAC), over 3 guests and 4 addresses, through the real hook and the service's
/// reconcile against the in-memory firewall. After every event:
/// - no address is installed for two guests, and a stopped guest has nothing installed;
/// - no guest-controlled address is one the admin gave someone else (a static host, the config);
/// - an incumbent keeps its address and its ports while it runs and still claims them: no
///   lease, metadata, frame or tie of another guest's takes them;
/// - an address becomes a guest's only where the host delivers it to that guest's MAC, and a
///   guest that follows its own DHCP client's lease never switches to another client's: a
///   forged lease never moves its forwards; one forged with the guest's own client identity
///   moves them only once the host sees the guest at the new address;
/// - no start is refused (only two config forwards can clash, and there is one config guest).
/// The seed is printed, and `OWNERSHIP_SEED=N` replays one.
@Suite struct OwnershipPropertyTests {
    struct Guest {
        let name: String
        let uuid: String
        let mac: String
        /// Its DHCP client identity.
        let client: String
        /// The guest port of its forwards: it tells the guest of a map element.
        let guestPort: Int
    }

    static let guests = [
        Guest(name: "g0", uuid: "00000000-0000-4000-8000-0000000000a0", mac: "52:54:00:00:00:a0", client: "01:52:54:00:00:00:a0", guestPort: 80),
        Guest(name: "g1", uuid: "00000000-0000-4000-8000-0000000000a1", mac: "52:54:00:00:00:a1", client: "01:52:54:00:00:00:a1", guestPort: 81),
        Guest(name: "g2", uuid: "00000000-0000-4000-8000-0000000000a2", mac: "52:54:00:00:00:a2", client: "01:52:54:00:00:00:a2", guestPort: 82),
    ]
    /// .10 is the default network's static host of 52:54:00:00:00:10, a MAC no guest here has.
    static let addresses = ["192.168.122.10", "192.168.122.20", "192.168.122.21", "192.168.122.22"]
    static let hostPorts = [9000, 9001]
    /// g0's config gives it .20 and 8000: the admin's word. g1 and g2 have only what their
    /// owners write and their DHCP clients ask for.
    static let config = "[[guest]]\nname = \"g0\"\naddress = \"192.168.122.20\"\nforwards = [\"8000:80\"]\n"

    @Test func onlyAuthorityMovesAForward() throws {
        let seed = ProcessInfo.processInfo.environment["OWNERSHIP_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 0...UInt64.max)
        print("OwnershipPropertyTests seed \(seed) (OWNERSHIP_SEED=\(seed) replays it)")
        var rng = SplitMix(seed: seed)
        var installs = 0
        // 40 runs: forged entries (dnsmasq's, which no guest answers for) grant nothing, so
        // grants come from the honest events alone.
        for run in 0..<40 {
            installs += try self.run(&rng, events: 80, label: "seed \(seed), run \(run)")
        }
        print("OwnershipPropertyTests: \(installs) guest-controlled installs")
        // Not a vacuous pass: guest-controlled addresses were granted and held along the way.
        #expect(installs > 50, "only \(installs) guest-controlled installs in all runs")
    }

    /// What the test knows, as the world is: who runs, what each declares, the leases and the
    /// neighbour table.
    struct World {
        var running = Set<String>()
        var metadata: [String: (port: Int, address: String?)] = [:]
        /// (mac, client) -> address, and when dnsmasq wrote it: a later lease expires later.
        var leases: [String: (mac: String, client: String, address: String, written: Int)] = [:]
        var clock = 0

        func ownLease(_ g: Guest) -> String? { leases["\(g.mac) \(g.client)"]?.address }
    }

    func run(_ rng: inout SplitMix, events: Int, label: String) throws -> Int {
        let host = FakeHost()
        let hook = try host.hook(Self.config)
        var world = World()
        var trail: [String] = []
        var before: [String: String] = [:]          // address -> guest
        var portsBefore: [Int: String] = [:]         // host port -> guest
        var metadataBefore: [String: (port: Int, address: String?)] = [:]
        /// The DHCP client each guest's record follows, as the last step left it.
        var followed: [String: String] = [:]
        var installs = 0

        func metadataXML(_ g: Guest) -> String {
            guard let m = world.metadata[g.name] else { return "" }
            return Fixtures.metadata("<forward spec='\(m.port):\(g.guestPort)'/>" + (m.address.map { "<address>\($0)</address>" } ?? ""))
        }
        func domain(_ g: Guest) -> Data {
            Fixtures.domain(name: g.name, uuid: g.uuid, metadata: metadataXML(g), interfaces: Fixtures.interface(mac: g.mac))
        }
        func writeStatus(_ g: Guest) {
            host.tree.write("run/libvirt/qemu/\(g.name).xml", "<domstatus state='running'>\(String(decoding: domain(g), as: UTF8.self))</domstatus>")
        }
        func writeLeases() {
            let entries = world.leases.values.sorted { $0.written < $1.written }.map { l in
                #"{"ip-address":"\#(l.address)","mac-address":"\#(l.mac)","client-id":"\#(l.client)","expiry-time":\#(1_900_000_000 + l.written)}"#
            }
            host.tree.write("var/lib/libvirt/dnsmasq/virbr0.status", "[" + entries.joined(separator: ",") + "]")
        }
        func service() throws {
            _ = try host.reconciler(Self.config).reconcile(.sync)
        }
        func pick<T>(_ items: [T]) -> T { items[Int(rng.next() % UInt64(items.count))] }

        for _ in 0..<events {
            let g = pick(Self.guests)
            let other = pick(Self.guests.filter { $0.name != g.name })
            let address = pick(Self.addresses)
            switch rng.next() % 10 {
            case 0 where !world.running.contains(g.name):
                world.metadata[g.name] = (pick(Self.hostPorts), rng.next() % 2 == 0 ? address : nil)
                trail.append("start \(g.name) \(world.metadata[g.name]!)")
                let status = hook.handle(guest: g.name, operation: .named("start"), input: .init(bytes: [UInt8](domain(g))))
                #expect(status == 0, "\(label): the start of \(g.name) was refused\n\(trail.joined(separator: "\n"))\n\(host.log.errors)")
                world.running.insert(g.name)
                writeStatus(g)
            case 1 where world.running.contains(g.name):
                trail.append("stop \(g.name)")
                world.running.remove(g.name)
                try? FileManager.default.removeItem(atPath: "\(host.tree.path)/run/libvirt/qemu/\(g.name).xml")
                _ = hook.handle(guest: g.name, operation: .named("stopped"), input: .init(bytes: [UInt8](domain(g))))
            case 2 where world.running.contains(g.name):
                // `virsh metadata --live`, then the service reads the status file.
                world.metadata[g.name] = (pick(Self.hostPorts), rng.next() % 3 == 0 ? nil : address)
                trail.append("metadata \(g.name) \(world.metadata[g.name]!)")
                writeStatus(g)
                try service()
            case 3:
                // The guest's own DHCP client: a lease, a new one, or none.
                if rng.next() % 4 == 0 { world.leases["\(g.mac) \(g.client)"] = nil } else {
                    world.clock += 1
                    world.leases["\(g.mac) \(g.client)"] = (g.mac, g.client, address, world.clock)
                    host.neighbourTable.see(address, at: g.mac)
                }
                trail.append("lease \(g.name) \(world.ownLease(g) ?? "none")")
                writeLeases()
                try service()
            case 4:
                // `other` forges a DHCPREQUEST with g's MAC and its own client identity.
                world.clock += 1
                world.leases["\(g.mac) \(other.client)"] = (g.mac, other.client, address, world.clock)
                // dnsmasq answers at the MAC the request named, and puts it in the host's ARP
                // table to do so: the forged request makes the address look like g's, but g
                // does not answer for it.
                host.neighbourTable.inject(address, at: g.mac)
                trail.append("forged lease by \(other.name): \(g.mac) at \(address)")
                writeLeases()
                try service()
            case let step where step == 7 || step == 8:
                // `other` forges a DHCPREQUEST with g's MAC and g's own client identity (it is
                // in every one of g's broadcasts): dnsmasq moves g's own lease. With the
                // broadcast flag (7) it answers by broadcast, putting nothing in the ARP table;
                // without it (8), by unicast, writing the address at g's MAC into that table.
                world.clock += 1
                world.leases["\(g.mac) \(g.client)"] = (g.mac, g.client, address, world.clock)
                if step == 8 { host.neighbourTable.inject(address, at: g.mac) }
                trail.append("forged \(step == 8 ? "unicast " : "")lease by \(other.name) with \(g.name)'s own client: \(address)")
                writeLeases()
                try service()
            case 5:
                // g's own frames: the host sees the address at g's MAC.
                host.neighbourTable.see(address, at: g.mac)
                trail.append("seen \(address) at \(g.name)")
                try service()
            case 6:
                // `other` forges frames naming the address at its own MAC.
                host.neighbourTable.see(address, at: other.mac)
                trail.append("forged frames by \(other.name): \(address)")
                try service()
            default:
                trail.append("service")
                try service()
            }
            let (now, ports) = check(host: host, world: world, before: before, portsBefore: portsBefore, metadataBefore: metadataBefore,
                                     followed: followed, trail: trail, label: label)
            metadataBefore = world.metadata
            followed = Dictionary(uniqueKeysWithValues: host.records.compactMap { r in r.leaseClients[.ipv4].map { (r.name.value, $0) } })
            installs += now.filter { $0.value != "g0" }.count
            (before, portsBefore) = (now, ports)
        }
        return installs
    }

    /// Checks every property; returns what is installed now (address -> guest, host port -> guest).
    func check(host: FakeHost, world: World, before: [String: String], portsBefore: [Int: String],
               metadataBefore: [String: (port: Int, address: String?)], followed: [String: String], trail: [String],
               label: String) -> ([String: String], [Int: String]) {
        let story = "\n" + trail.joined(separator: "\n")
        var owners: [String: Set<String>] = [:], ports: [Int: String] = [:]
        for element in host.nft.elements("dnat4_any") {
            // "tcp . PORT : ADDRESS . GUESTPORT"
            let words = element.split(separator: " ").map(String.init)
            guard words.count == 7, let port = Int(words[2]), let g = Self.guests.first(where: { "\($0.guestPort)" == words[6] }) else {
                Issue.record("\(label): unexpected element \(element)")
                continue
            }
            let address = words[4]
            owners[address, default: []].insert(g.name)
            ports[port] = g.name
            #expect(world.running.contains(g.name), "\(label): stopped guest \(g.name) has \(element)\(story)")
            if g.name != "g0" {
                #expect(address != "192.168.122.10", "\(label): \(g.name) took the static host's address\(story)")
                #expect(address != "192.168.122.20", "\(label): \(g.name) took g0's configured address\(story)")
                if before[address] != g.name {
                    // Newly its: the host delivers the address to its own MAC now, and the guest
                    // answers for it there, so the forwards reach that guest and no other,
                    // whoever's lease, frames or forged request named it.
                    let used = host.neighbourTable.entries.contains { $0.address.description == address && $0.mac.value == g.mac
                        && host.neighbourTable.answers($0) }
                    #expect(used, "\(label): \(g.name) got \(address), which it does not answer for at its MAC\(story)")
                }
            }
        }
        var now: [String: String] = [:]
        for (address, guests) in owners {
            #expect(guests.count <= 1, "\(label): \(address) installed for \(guests.sorted())\(story)")
            now[address] = guests.first
        }
        // An incumbent keeps what it holds while it runs and still claims it: nobody takes it,
        // and nothing (a frame, a forged lease, a tie) switches it off.
        for (address, holder) in before where world.running.contains(holder) {
            guard let g = Self.guests.first(where: { $0.name == holder }) else { continue }
            // Held through its metadata, it claims what its metadata says; through a lease, what
            // the lease of the client it follows says, or the last address while that client has
            // none and no other MAC leases it.
            // A lease that names an address the guest is not seen using (a forged request with
            // its own client identity moves it in dnsmasq), or none, leaves it where it is,
            // whoever else dnsmasq leases the address to.
            let viaLease = metadataBefore[holder]?.address == nil && world.metadata[holder]?.address == nil
            let client = followed[holder] ?? g.client
            let lease = world.leases["\(g.mac) \(client)"]?.address
            let seenAtOwnMAC = lease.map { a in
                host.neighbourTable.entries.contains { $0.address.description == a && $0.mac.value == g.mac && host.neighbourTable.answers($0) }
            } ?? false
            let stillClaims = holder == "g0" ? address == "192.168.122.20"
                : world.metadata[holder]?.address == address
                    || (viaLease && (lease == address || !seenAtOwnMAC))
            guard stillClaims else { continue }
            if let taker = now[address], taker != holder {
                Issue.record("\(label): \(taker) took \(address) from \(holder), which holds and claims it\(story)")
            }
            // With the same forward as before, it is still installed.
            if holder != "g0", let port = world.metadata[holder]?.port, portsBefore[port] == holder {
                let record = host.records.first { $0.name.value == holder }
                let held = record.map { "\($0.addressSource) \(String(describing: $0.address4)) \($0.leaseClients) holds \($0.holds)" }
                let detail = "its record: \(held ?? "none"); "
                    + "followed \(client); leases \(world.leases.values.map { "\($0.mac) \($0.client) \($0.address)" })"
                #expect(now[address] == holder && ports[port] == holder,
                    "\(label): \(holder) lost \(address) port \(port), which it holds and claims; \(detail)\(story)")
            }
        }
        for (port, holder) in portsBefore where world.running.contains(holder) && holder != "g0" {
            guard let taker = ports[port], taker != holder, taker != "g0" else { continue }
            let stillDeclares = world.metadata[holder]?.port == port && now.values.contains(holder)
            #expect(!stillDeclares, "\(label): \(taker) took port \(port) from \(holder)\(story)")
        }
        // A guest that follows its own DHCP client's lease never switches to another client's:
        // a forged DHCPREQUEST with its MAC does not move it.
        for (name, client) in followed where world.running.contains(name) {
            guard let g = Self.guests.first(where: { $0.name == name }), client == g.client,
                  let record = host.records.first(where: { $0.name.value == name }), record.addressSource == .lease else { continue }
            #expect(record.leaseClients[.ipv4] == g.client, "\(label): \(name) now follows \(record.leaseClients), not its own client\(story)")
        }
        let recorded = Set(host.records.map(\.name.value))
        #expect(recorded.isSubset(of: world.running), "\(label): records of stopped guests: \(recorded.subtracting(world.running))")
        return (now, ports)
    }
}
