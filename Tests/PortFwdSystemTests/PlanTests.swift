import Foundation
import Testing
import PortFwdCore
import PortFwdSystem

@Suite struct PlanTests {
    func guests(_ toml: String) throws -> [Guest] {
        let config = try Config.parse(toml)
        return Resolver.resolve(config: config, running: [], all: true).guests
    }

    /// Config forwards that clash are both left out, and named; `apply` and `check` refuse them.
    func expectConflict(_ toml: String, _ message: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let result = Resolver.resolve(config: try Config.parse(toml), running: [], all: true)
        #expect(result.conflicts == [message], sourceLocation: sourceLocation)
        #expect(throws: PortFwdError(.conflict, message), sourceLocation: sourceLocation) { try Fixtures.plan(toml) }
        #expect(result.guests.isEmpty, "neither side is installed: \(result.guests)", sourceLocation: sourceLocation)
    }

    @Test func sameHostPortOnTwoGuestsNamesBoth() throws {
        try expectConflict("""
            [[guest]]
            name = "web1"
            address = "192.168.122.10"
            forwards = ["8080:80"]
            [[guest]]
            name = "web2"
            address = "192.168.122.11"
            forwards = ["8080:8080"]
            """, "conflict: tcp port 8080 on every address: guests web1 and web2 both claim it (8080:80/tcp and 8080:8080/tcp)")
    }

    @Test func overlappingRangesConflict() throws {
        try expectConflict("""
            [[guest]]
            name = "a"
            address = "192.168.122.10"
            forwards = ["10000-10099/udp"]
            [[guest]]
            name = "b"
            address = "192.168.122.11"
            forwards = ["10050-10150:20050-20150/udp"]
            """,
            "conflict: udp ports 10050-10099 on every address: guests a and b both claim it (10000-10099:10000-10099/udp and "
                + "10050-10150:20050-20150/udp)")
    }

    @Test func wildcardAgainstBoundAddressConflicts() throws {
        try expectConflict("""
            [[guest]]
            name = "a"
            address = "192.168.122.10"
            forwards = ["198.51.100.1:443"]
            [[guest]]
            name = "b"
            address = "192.168.122.11"
            forwards = ["443"]
            """,
            "conflict: tcp port 443 on every address and on 198.51.100.1: guests a and b both claim it (198.51.100.1:443:443/tcp and 443:443/tcp)")
    }

    @Test func differentAddressesProtocolsAndPortsDoNotConflict() throws {
        let g = try guests("""
            [[guest]]
            name = "a"
            address = "192.168.122.10"
            forwards = ["198.51.100.1:443", "53/udp", "8000-8009"]
            [[guest]]
            name = "b"
            address = "192.168.122.11"
            forwards = ["198.51.100.2:443", "53/tcp", "8010-8019"]
            """)
        let plan = try Plan(guests: g, settings: Settings())
        #expect(plan.entries.count == 6)
    }

    @Test func sameGuestTwiceIsReported() throws {
        try expectConflict("[[guest]]\nname = \"a\"\naddress = \"192.168.122.10\"\nforwards = [\"80\", \"79-81\"]\n",
                           "conflict: tcp port 80 on every address: guest a declares it twice (79-81:79-81/tcp and 80:80/tcp)")
    }

    @Test func boundIPv6ForwardNeedsAddress6() throws {
        #expect(throws: PortFwdError(.invalidInput, "(string): guest[0].forwards[0]: [2001:db8::1]:443:443/tcp is bound to an IPv6 host address, but "
            + "this guest has no address6")) {
            try Config.parse("[[guest]]\nname = \"a\"\naddress = \"192.168.122.10\"\nforwards = [\"[2001:db8::1]:443\"]\n")
        }
    }

    @Test func wildcardForwardCoversEachFamilyTheGuestHas() throws {
        let g = try guests("""
            [[guest]]
            name = "a"
            address = "192.168.122.10"
            address6 = "fd00:122::10"
            forwards = ["80", { spec = "22", sources = ["198.51.100.0/24"] }]
            """)
        let plan = try Plan(guests: g, settings: Settings())
        // 80 in both families; 22 only for IPv4, since only IPv4 clients may use it.
        #expect(plan.entries.map { "\($0.family) \($0.hostPorts) \($0.sources)" } == [
            "ipv4 80 [0.0.0.0/0]", "ipv6 80 [::/0]", "ipv4 22 [198.51.100.0/24]",
        ])
    }

    @Test func conflictDetectionScalesToTenThousandForwards() throws {
        let forwards = (0..<10_000).map { Forward(spec: PortSpec(hostPorts: PortRange(port: UInt16(20000 + $0))!, guestPorts: PortRange(port: 80)!)) }
        let guest = Guest(name: try GuestName("big"), address4: IPAddress("192.168.122.10"), address6: nil, forwards: forwards)
        let plan = try Plan(guests: [guest], settings: Settings())
        #expect(plan.entries.count == 10_000)
        // All lead to one guest port, and each counts apart.
        #expect(Set(plan.entries.map(ForwardKey.init)).count == 10_000)
    }
}

@Suite struct ResolverTests {
    let uuid = try! DomainUUID("6f1f1b2c-8d7e-4c5b-9a3e-1b2c3d4e5f60")
    let iface = RunningGuest.Interface(mac: MAC("52:54:00:00:00:10")!, network: "default", bridge: "virbr0")
    var surroundings: Surroundings {
        Surroundings(networks: ["default": try! NetworkDefinition(XMLParser.parse(Data(Fixtures.defaultNetwork.utf8)))],
                     hostAddresses: [IPAddress("192.168.122.1")!, IPAddress("198.51.100.1")!])
    }

    func guest(_ metadata: RunningGuest.Metadata, address4: String? = "192.168.122.10", source: AddressSource = .dhcpHost, since: Int64 = 0,
               uuid: DomainUUID? = nil, name: String = "web1") throws -> RunningGuest {
        RunningGuest(uuid: uuid ?? self.uuid, name: try GuestName(name), interfaces: [iface], address4: address4.flatMap(IPAddress.init),
                     addressSource: source, metadata: metadata, since: since)
    }

    @Test func runningGuestMergesConfigAndMetadataForwards() throws {
        let config = try Config.parse("[[guest]]\nname = \"web1\"\nforwards = [\"8080:80\"]\n")
        let running = try guest(RunningGuest.Metadata(forwards: [Forward(spec: try PortSpec.parse("8080:80"), origin: .metadata),
                                                                Forward(spec: try PortSpec.parse("9090"), origin: .metadata)]))
        let result = Resolver.resolve(config: config, running: [running], all: false)
        #expect(result.guests.count == 1)
        #expect(result.guests[0].forwards.map(\.spec.description) == ["8080:80/tcp", "9090:9090/tcp"])
        #expect(result.guests[0].address4?.description == "192.168.122.10")
    }

    @Test func metadataOffIgnoresMetadataForwards() throws {
        let config = try Config.parse("[settings]\nmetadata = false\n")
        let running = try guest(RunningGuest.Metadata(forwards: [Forward(spec: try PortSpec.parse("9090"), origin: .metadata)]))
        #expect(Resolver.resolve(config: config, running: [running], all: false).guests.isEmpty)
    }

    @Test func allIncludesStoppedConfiguredGuestsAndWarnsAboutAddresslessOnes() throws {
        let config = try Config.parse("""
            [[guest]]
            name = "up"
            address = "192.168.122.10"
            forwards = ["80"]
            [[guest]]
            name = "nowhere"
            forwards = ["81"]
            """)
        #expect(Resolver.resolve(config: config, running: [], all: false).guests.isEmpty)
        let result = Resolver.resolve(config: config, running: [], all: true)
        #expect(result.guests.map(\.name.value) == ["up"])
        #expect(result.warnings == ["guest[1] (nowhere): skipped, no address in the config (addresses are only discovered when the guest starts)"])
    }

    /// Records are re-checked against the policy of the moment: tightening it drops what it no
    /// longer allows, on the next plan (hardening issue, class 2).
    @Test func tighterHostPortsDropRecordedMetadataForwards() throws {
        let running = try guest(RunningGuest.Metadata(forwards: [Forward(spec: try PortSpec.parse("2222:22"), origin: .metadata)]))
        let loose = Resolver.resolve(config: try Config.parse(""), running: [running], all: false)
        #expect(loose.guests.first?.forwards.count == 1)
        let tight = Resolver.resolve(config: try Config.parse("[settings]\nmetadata-host-ports = [\"8000-8999\"]\n"), running: [running], all: false)
        #expect(tight.guests.isEmpty)
        #expect(tight.warnings == ["guest web1: metadata forward 2222:22/tcp uses host ports outside settings.metadata-host-ports (8000-8999); "
            + "forwards in the config file may use any port; its metadata forwards are not installed"])
    }

    @Test func recordedMetadataAddressIsRecheckedAgainstTheHost() throws {
        let metadata = RunningGuest.Metadata(forwards: [Forward(spec: try PortSpec.parse("2222:22"), origin: .metadata)],
            address4: IPAddress("192.168.122.1"))
        // A record written before the address policy existed: the metadata named the host's bridge.
        let running = try guest(metadata, address4: "192.168.122.1", source: .explicit)
        let result = Resolver.resolve(config: try Config.parse(""), running: [running], all: false, surroundings: surroundings)
        #expect(result.guests.isEmpty)
        #expect(result.warnings == ["guest web1: metadata address 192.168.122.1 is an address of this host"])
        #expect(result.pending.map(\.reason.description) == ["guest web1: metadata address 192.168.122.1 is an address of this host"])
        // With the escape hatch on, a routed address outside libvirt's networks is fine; the host's own never is.
        let any = try Config.parse("[settings]\nmetadata-address = \"any\"\n")
        #expect(Resolver.resolve(config: any, running: [running], all: false, surroundings: surroundings).guests.isEmpty)
        let routed = try guest(RunningGuest.Metadata(forwards: metadata.forwards, address4: IPAddress("10.9.8.7")), address4: "10.9.8.7",
            source: .explicit)
        #expect(Resolver.resolve(config: any, running: [routed], all: false, surroundings: surroundings).guests.count == 1)
        #expect(Resolver.resolve(config: try Config.parse(""), running: [routed], all: false, surroundings: surroundings).guests.isEmpty)
    }

    /// Whatever the order they started in, neither guest's owner can take the other's address:
    /// an address two guests claim through metadata goes to neither.
    @Test func twoGuestsClaimingOneAddressThroughMetadataGetNeither() throws {
        let forwards = [Forward(spec: try PortSpec.parse("2222:22"), origin: .metadata)]
        let first = try guest(RunningGuest.Metadata(forwards: forwards, address4: IPAddress("192.168.122.50")), address4: "192.168.122.50",
            source: .explicit, since: 1)
        let forwards2 = [Forward(spec: try PortSpec.parse("2223:22"), origin: .metadata)]
        let second = try guest(RunningGuest.Metadata(forwards: forwards2, address4: IPAddress("192.168.122.50")), address4: "192.168.122.50",
            source: .explicit,
                               since: 2, uuid: try DomainUUID("00000000-0000-4000-8000-000000000002"), name: "web2")
        for order in [[second, first], [first, second]] {
            let result = Resolver.resolve(config: try Config.parse(""), running: order, all: false, surroundings: surroundings)
            #expect(result.guests.isEmpty)
            #expect(Set(result.pending.map(\.reason.description)) == [
                "guest web1: its metadata address 192.168.122.50 is disputed with guest web2 (metadata); forwards to it wait until the address is "
                    + "web1's alone",
                "guest web2: its metadata address 192.168.122.50 is disputed with guest web1 (metadata); forwards to it wait until the address is "
                    + "web2's alone",
            ])
        }
    }

    @Test func pendingGuestsAreReportedNotPlanned() throws {
        let running = try guest(RunningGuest.Metadata(forwards: [Forward(spec: try PortSpec.parse("2222:22"), origin: .metadata)]), address4: nil,
            source: .pending)
        let result = Resolver.resolve(config: try Config.parse(""), running: [running], all: false)
        #expect(result.guests.isEmpty)
        #expect(result.pending.map(\.guest.name.value) == ["web1"])
        #expect(result.pending.map(\.reason) == [.lease])
    }
}

@Suite struct AddressPolicyTests {
    let policy = AddressPolicy(settings: Settings())
    let iface = RunningGuest.Interface(mac: MAC("52:54:00:00:00:10")!, network: "default", bridge: "virbr0")
    var surroundings: Surroundings {
        Surroundings(networks: ["default": try! NetworkDefinition(XMLParser.parse(Data(Fixtures.defaultNetwork.utf8)))],
                     hostAddresses: [IPAddress("192.168.122.1")!, IPAddress("198.51.100.1")!, IPAddress("fd00:122::1")!])
    }

    func problem(_ text: String, interfaces: [RunningGuest.Interface]? = nil) throws -> String? {
        policy.problem(try #require(IPAddress(text)), source: .metadata, guest: try GuestName("web1"), interfaces: interfaces ?? [iface],
            surroundings: surroundings)
    }

    /// Every address metadata could use to make the host serve something it should not.
    @Test(arguments: [
        ("192.168.122.1", "guest web1: metadata address 192.168.122.1 is an address of this host"),
        ("198.51.100.1", "guest web1: metadata address 198.51.100.1 is an address of this host"),
        ("169.254.169.254", "guest web1: metadata address 169.254.169.254: 169.254.169.254 is a link-local address"),
        ("127.0.0.1", "guest web1: metadata address 127.0.0.1: 127.0.0.1 is a loopback address"),
        ("192.168.122.0", "guest web1: metadata address 192.168.122.0 is the network address of 192.168.122.0/24"),
        ("192.168.122.255", "guest web1: metadata address 192.168.122.255 is the broadcast address of 192.168.122.0/24"),
        ("10.0.0.5", "guest web1: metadata address 10.0.0.5 is not in the subnet of a libvirt network the guest is attached to (192.168.122.0/24); "
            + "settings.metadata-address = \"any\" lifts this"),
        ("fd00:122::1", "guest web1: metadata address6 fd00:122::1 is an address of this host"),
        ("fd00:999::5", "guest web1: metadata address6 fd00:999::5 is not in the subnet of a libvirt network the guest is attached to "
            + "(fd00:122::/64); settings.metadata-address = \"any\" lifts this"),
    ] as [(String, String)])
    func refusedAddresses(address: String, message: String) throws {
        #expect(try problem(address) == message)
    }

    @Test func anAddressTheGuestCanHoldIsAllowed() throws {
        #expect(try problem("192.168.122.10") == nil)
        #expect(try problem("fd00:122::10") == nil)
    }

    @Test func anUnattachedNetworkIsRefused() throws {
        let elsewhere = RunningGuest.Interface(mac: MAC("52:54:00:00:00:10")!, network: "isolated", bridge: "virbr9")
        #expect(try problem("192.168.122.10", interfaces: [elsewhere])
                == "guest web1: metadata address 192.168.122.10 is not in the subnet of a libvirt network the guest is attached to (it is on none "
                    + "with an IPv4 subnet); settings.metadata-address = \"any\" lifts this")
    }

}

@Suite struct MetadataPolicyTests {
    @Test func forwardCapsAndHostPorts() throws {
        var settings = Settings()
        settings.metadataMaxForwards = 2
        settings.metadataMaxPorts = 100
        let p = MetadataPolicy(settings: settings)
        let forwards = try ["8080", "9000-9199", "8081"].map { Forward(spec: try PortSpec.parse($0), origin: .metadata) }
        #expect(p.forwardProblems(forwards, guest: try GuestName("g")) == [
            "guest g: metadata declares 3 forwards, more than settings.metadata-max-forwards (2)",
            "guest g: metadata forwards cover 202 host ports, more than settings.metadata-max-ports (100)",
        ])
        #expect(MetadataPolicy(settings: Settings()).forwardProblems([Forward(spec: try PortSpec.parse("1024-65535"), origin: .metadata)],
            guest: try GuestName("g"))
                == ["guest g: metadata forwards cover 64512 host ports, more than settings.metadata-max-ports (1024)"])
    }
}
