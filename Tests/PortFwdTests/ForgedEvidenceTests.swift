import Foundation
import Testing
import PortFwd
import PortFwdCore
import PortFwdSystem

/// What a fourth attack round, as one guest's owner, did with evidence it can forge, and the
/// rules that hold against each door (libvirt-portfwd(8), SECURITY):
/// - a DHCPREQUEST carrying a guest's MAC and its own client identity moves that guest's lease
///   in dnsmasq; the guest keeps what it holds until the host sees it at the new address;
/// - a second client's lease for a restarting guest's MAC is no dispute when the guest is seen
///   using one of the two;
/// - settings.metadata-address = "any" is for routed addresses: never another libvirt
///   network's, and never an isolated one's;
/// - metadata asking for more forwards than the policy allows is kept as a count, not as
///   thousands of forwards in every record.
@Suite struct ForgedEvidenceTests {
    static let victimMAC = MAC("52:54:00:00:00:20")!
    static let client = "01:52:54:00:00:00:20"
    static let isolatedNetwork = """
        <network><name>isolated</name><bridge name='virbr9'/><ip address='192.168.100.1' prefix='24'/></network>
        """
    static let otherNAT = """
        <network><name>other</name><forward mode='nat'/><bridge name='virbr5'/><ip address='192.168.50.1' prefix='24'/></network>
        """

    func surroundings(leases: [(String, String)], seen: [(String, MAC)] = [], extraNetworks: [String] = []) throws -> Surroundings {
        var networks = ["default": try NetworkDefinition(XMLParser.parse(Data(Fixtures.defaultNetwork.utf8)))]
        for xml in extraNetworks {
            let n = try NetworkDefinition(XMLParser.parse(Data(xml.utf8)))
            networks[n.name] = n
        }
        var table = LeaseTable()
        var entries: [Lease] = []
        for (i, l) in leases.enumerated() {
            let expiry: Int64 = 1_900_000_000 + Int64(i)
            entries.append(Lease(mac: Self.victimMAC, address: IPAddress(l.0)!, expiry: expiry, clientID: l.1))
        }
        table.add(bridge: "virbr0", entries)
        return Surroundings(networks: networks, hostAddresses: [IPAddress("192.168.122.1")!], leases: table,
                            neighbours: seen.map { Neighbour(address: IPAddress($0.0)!, mac: $0.1, interface: "virbr0") })
    }

    var victim: RunningGuest {
        get throws {
            RunningGuest(uuid: try DomainUUID("00000000-0000-4000-8000-000000000020"), name: try GuestName("victim"),
                         interfaces: [RunningGuest.Interface(mac: Self.victimMAC, network: "default", bridge: "virbr0")],
                         address4: IPAddress("192.168.122.58"), addressSource: .lease,
                         metadata: RunningGuest.Metadata(forwards: [Forward(spec: try PortSpec.parse("8080:80"), origin: .metadata)]),
                         leaseClients: [.ipv4: Self.client], holds: Holdings(addresses: [.ipv4: IPAddress("192.168.122.58")!]))
        }
    }

    /// The forged request moved the victim's own lease to .99: its forwards stay at .58, and the
    /// service is told to listen for .99; once the victim is seen there, it is followed.
    @Test func aLeaseMovedByAForgedRequestWaitsForTheGuestToBeSeen() throws {
        let intake = DomainIntake(config: try Config.parse(""))
        var unseen = Set<IPAddress>()
        let forged = try surroundings(leases: [("192.168.122.99", Self.client)])
        #expect(intake.followLease(try victim, surroundings: forged, unseen: &unseen) == nil, "the held address stays")
        #expect(unseen == [IPAddress("192.168.122.99")!])

        // Seen at another MAC only (the forger's frames): still not the victim's to move to.
        unseen = []
        let elsewhere = try surroundings(leases: [("192.168.122.99", Self.client)], seen: [("192.168.122.99", MAC("52:54:00:00:00:30")!)])
        #expect(intake.followLease(try victim, surroundings: elsewhere, unseen: &unseen) == nil)

        let moved = try surroundings(leases: [("192.168.122.99", Self.client)], seen: [("192.168.122.99", Self.victimMAC)])
        #expect(intake.followLease(try victim, surroundings: moved)?.address4 == IPAddress("192.168.122.99"))
    }

    /// Another MAC's lease of the held address takes nothing either: any guest can ask dnsmasq
    /// for an address it sees free, naming any MAC (a second forged request, after the first
    /// moved the victim's own lease away from it).
    @Test func aHeldAddressLeasedToAnotherMACStays() throws {
        var forged = try surroundings(leases: [("192.168.122.99", Self.client)])
        var other = LeaseTable()
        other.add(bridge: "virbr0", [Lease(mac: MAC("52:54:00:aa:bb:cc")!, address: IPAddress("192.168.122.58")!, expiry: 1_900_000_100,
            clientID: "01:aa")])
        other.add(bridge: "virbr0", forged.leases.leases(bridge: "virbr0", mac: Self.victimMAC))
        forged.leases = other
        var unseen = Set<IPAddress>()
        #expect(DomainIntake(config: try Config.parse("")).followLease(try victim, surroundings: forged, unseen: &unseen) == nil)
        #expect(unseen == [IPAddress("192.168.122.99")!])
        // Its own lease gone altogether, and the address leased to another MAC: it stays too.
        var gone = try surroundings(leases: [])
        var onlyOther = LeaseTable()
        onlyOther.add(bridge: "virbr0", [Lease(mac: MAC("52:54:00:aa:bb:cc")!, address: IPAddress("192.168.122.58")!, expiry: 1_900_000_100,
            clientID: "01:aa")])
        gone.leases = onlyOther
        #expect(DomainIntake(config: try Config.parse("")).followLease(try victim, surroundings: gone) == nil)
    }

    /// A lease forged for the guest's MAC before it started (its own was released): the guest
    /// starts on it, pending, but its client identity is not recorded until that address is
    /// seen in use at its MAC; its own client's lease, seen there, wins once it comes.
    @Test func anIdentityFromALeaseNeverSeenBindsNothing() throws {
        let forgedClient = "ff:00:00:00:01"
        let interfaces = try victim.interfaces
        let forged = try surroundings(leases: [("192.168.122.150", forgedClient)])
        let found = try #require(AddressDiscovery(surroundings: forged).discover(interfaces))
        #expect(found.address4 == IPAddress("192.168.122.150"))
        #expect(found.clients.isEmpty, "no identity from a lease not seen in use")
        let v = try victim
        let started = RunningGuest(uuid: v.uuid, name: v.name, interfaces: interfaces, address4: found.address4,
                                   addressSource: .lease, metadata: v.metadata, leaseClients: found.clients, holds: .none)
        let both = try surroundings(leases: [("192.168.122.150", forgedClient), ("192.168.122.59", Self.client)],
                                    seen: [("192.168.122.59", Self.victimMAC)])
        let followed = DomainIntake(config: try Config.parse("")).followLease(started, surroundings: both)
        #expect(followed?.address4 == IPAddress("192.168.122.59"))
        #expect(followed?.leaseClients[.ipv4] == Self.client)
    }

    /// A restarting guest (no client identity yet) with a forger's second lease for its MAC:
    /// a dispute, unless the guest is seen using one of the two addresses at its own MAC.
    @Test func aDisputeIsSettledByTheAddressTheGuestIsSeenUsing() throws {
        let interfaces = [RunningGuest.Interface(mac: Self.victimMAC, network: "default", bridge: "virbr0")]
        let leases = [("192.168.122.58", Self.client), ("192.168.122.252", "01:de:ad:be:ef:00:01")]
        let unseen = try surroundings(leases: leases)
        guard case .disputed = LeaseAttribution.choose(.ipv4, interfaces: interfaces, known: nil, current: nil, surroundings: unseen) else {
            Issue.record("two clients, nothing seen: a dispute")
            return
        }
        let seen = try surroundings(leases: leases, seen: [("192.168.122.58", Self.victimMAC)])
        #expect(LeaseAttribution.choose(.ipv4, interfaces: interfaces, known: nil, current: nil, surroundings: seen)
                == .lease(IPAddress("192.168.122.58")!, client: Self.client))
        // Both seen at the guest's MAC (frames forged at it): a dispute still.
        let both = try surroundings(leases: leases, seen: [("192.168.122.58", Self.victimMAC), ("192.168.122.252", Self.victimMAC)])
        guard case .disputed = LeaseAttribution.choose(.ipv4, interfaces: interfaces, known: nil, current: nil, surroundings: both) else {
            Issue.record("both seen: a dispute")
            return
        }
    }

    /// A forged DHCPREQUEST without the broadcast flag: dnsmasq answers by unicast, and to do so
    /// writes the new address into the host's ARP table at the MAC the request named. That entry
    /// is dnsmasq's doing, not the guest's, and the guest does not answer for the address: it
    /// moves no held address, binds no client identity, settles no dispute, and makes no
    /// metadata claim count. Once the guest answers there, each of them does.
    @Test func anEntryTheGuestDoesNotAnswerForIsNoSighting() throws {
        let moved = IPAddress("192.168.122.99")!
        let nobody: @Sendable ([Neighbour]) -> Set<Neighbour> = { _ in [] }
        let victimAnswers: @Sendable ([Neighbour]) -> Set<Neighbour> = { Set($0.filter { $0.mac == Self.victimMAC }) }
        let intake = DomainIntake(config: try Config.parse(""))
        // The held address.
        var around = try surroundings(leases: [("192.168.122.99", Self.client)], seen: [("192.168.122.99", Self.victimMAC)])
        around.answers = nobody
        var unseen = Set<IPAddress>()
        #expect(intake.followLease(try victim, surroundings: around, unseen: &unseen) == nil, "the held address stays")
        #expect(unseen == [moved])
        around.answers = victimAnswers
        #expect(intake.followLease(try victim, surroundings: around)?.address4 == moved)
        // The client identity of a guest's first lease.
        let interfaces = try victim.interfaces
        around = try surroundings(leases: [("192.168.122.150", "ff:00:00:00:01")], seen: [("192.168.122.150", Self.victimMAC)])
        around.answers = nobody
        #expect(try #require(AddressDiscovery(surroundings: around).discover(interfaces)).clients.isEmpty)
        around.answers = victimAnswers
        #expect(try #require(AddressDiscovery(surroundings: around).discover(interfaces)).clients == [.ipv4: "ff:00:00:00:01"])
        // A dispute between two clients' leases for the guest's MAC, each address in the table
        // at that MAC: only the one the guest answers for settles it.
        let leases = [("192.168.122.58", Self.client), ("192.168.122.252", "01:de:ad:be:ef:00:01")]
        around = try surroundings(leases: leases, seen: [("192.168.122.58", Self.victimMAC), ("192.168.122.252", Self.victimMAC)])
        around.answers = { Set($0.filter { $0.address == IPAddress("192.168.122.58")! && $0.mac == Self.victimMAC }) }
        #expect(LeaseAttribution.choose(.ipv4, interfaces: interfaces, known: nil, current: nil, surroundings: around)
                == .lease(IPAddress("192.168.122.58")!, client: Self.client))
        // A guest's metadata claim to an address in the table at its MAC, which it does not answer for.
        let config = try Config.parse("")
        let evilMAC = MAC("52:54:00:00:00:30")!
        let evil = RunningGuest(uuid: try DomainUUID("00000000-0000-4000-8000-000000000030"), name: try GuestName("evil"),
                                interfaces: [RunningGuest.Interface(mac: evilMAC, network: "default", bridge: "virbr0")],
                                address4: IPAddress("192.168.122.77"), addressSource: .explicit,
                                metadata: RunningGuest.Metadata(forwards: [Forward(spec: try PortSpec.parse("9001:80"), origin: .metadata)],
                                                                address4: IPAddress("192.168.122.77")))
        around = try surroundings(leases: [], seen: [("192.168.122.77", evilMAC)])
        around.answers = nobody
        let refused = Resolver.resolve(config: config, running: [evil], all: false, surroundings: around)
        #expect(refused.guests.flatMap(\.forwards).isEmpty)
        #expect(refused.pending.first?.reason.description.contains("not yet seen in use at its MAC") == true,
                "\(refused.pending.map(\.reason.description))")
        around.answers = { Set($0.filter { $0.mac == evilMAC }) }
        #expect(Resolver.resolve(config: config, running: [evil], all: false, surroundings: around).guests.flatMap(\.forwards).count == 1)
    }

    /// With metadata-address = "any", a guest on the default NAT network names the address of a
    /// guest on an isolated network, or on another NAT network: refused; a routed address
    /// beyond libvirt's networks is still the escape hatch it was.
    @Test func anyAddressIsNeverAnotherLibvirtNetworks() throws {
        var settings = Settings()
        settings.metadataAddress = .any
        let around = try surroundings(leases: [], extraNetworks: [Self.isolatedNetwork, Self.otherNAT])
        let policy = AddressPolicy(settings: settings)
        let iface = RunningGuest.Interface(mac: MAC("52:54:00:00:00:30")!, network: "default", bridge: "virbr0")
        let evil = try GuestName("evil")
        func problem(_ a: String) -> String? {
            policy.problem(IPAddress(a)!, source: .metadata, guest: evil, interfaces: [iface], surroundings: around)
        }
        let expected: String = "guest evil: metadata address 192.168.100.10 is in libvirt network isolated's subnet, and the guest is not "
            + "attached to it "
            + "(settings.metadata-address = \"any\" is for addresses routed beyond libvirt's networks)"
        #expect(problem("192.168.100.10") == expected)
        #expect(problem("192.168.50.10")?.contains("libvirt network other's subnet") == true)
        #expect(problem("10.9.8.7") == nil)
        // And whatever the address policy says, an isolated network's address is isolated.
        #expect(around.isIsolated(IPAddress("192.168.100.10")!, interfaces: [iface]))
        #expect(!around.isIsolated(IPAddress("10.9.8.7")!, interfaces: [iface]))
    }

    /// 3,700 metadata forwards with 64 client networks each: refused before they are read, in
    /// one line, at whatever settings.metadata-max-forwards. Under the hard cap but over the
    /// policy's, the record keeps none of them, and says why in one line.
    @Test func metadataOverTheForwardCountIsNeverKept() throws {
        let sources: String = (0..<64).map { (n: Int) -> String in "10.\(n).0.0/16" }.joined(separator: ",")
        func forwards(_ count: Int, source: String?) -> String {
            (0..<count).map { (n: Int) -> String in
                let port: Int = 20_000 + n
                return source.map { "<forward spec='\(port):80' source='\($0)'/>" } ?? "<forward spec='\(port):80'/>"
            }.joined()
        }
        let huge = forwards(3_700, source: sources)
        let refused = try Domain(XMLParser.parse(Fixtures.domain(name: "evil", metadata: Fixtures.metadata(huge))))
        #expect(refused.metadata == nil)
        #expect(refused.metadataProblem == "metadata declares 3700 forwards, more than 1024 (whatever settings.metadata-max-forwards says)")
        let wide = forwards(100, source: sources)
        #expect(try Domain(XMLParser.parse(Fixtures.domain(name: "evil", metadata: Fixtures.metadata(wide)))).metadataProblem
                == "metadata names 6400 client networks over its forwards, more than 4096")

        let many = forwards(200, source: "10.0.0.0/8,172.16.0.0/12")
        let domain = try Domain(XMLParser.parse(Fixtures.domain(name: "evil", metadata: Fixtures.metadata(many
            + "<address>192.168.122.30</address>"))))
        let (guest, warnings) = DomainIntake(config: try Config.parse("")).take(domain, surroundings: Surroundings())
        #expect(guest == nil, "no forward to record: the config gives evil none")
        #expect(warnings == ["guest evil: metadata declares 200 forwards, more than settings.metadata-max-forwards (32); its metadata forwards are "
            + "not installed"])
        // With a config forward, the guest is recorded, small, with its metadata address.
        let config = try Config.parse("[[guest]]\nname = \"evil\"\nforwards = [\"7000:22\"]\n")
        let (kept, _) = DomainIntake(config: config).take(domain, surroundings: Surroundings())
        #expect(kept?.metadata.forwards.isEmpty == true)
        #expect(kept?.metadata.address4 == IPAddress("192.168.122.30"))
        // At the cap, kept as asked (the plan holds it to the rest of the policy).
        let few = try Domain(XMLParser.parse(Fixtures.domain(name: "evil", metadata: Fixtures.metadata(forwards(32, source: nil)))))
        #expect(DomainIntake(config: try Config.parse("")).take(few, surroundings: Surroundings()).0?.metadata.forwards.count == 32)
    }
}
