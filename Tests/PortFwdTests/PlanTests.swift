import Testing
@testable import PortFwd

@Suite struct PlanTests {
    func guests(_ toml: String) throws -> [Guest] {
        let config = try Config.parse(toml)
        return Resolver.guests(config: config, running: [], all: true).guests
    }

    @Test func sameHostPortOnTwoGuestsNamesBoth() throws {
        let g = try guests("""
            [[guest]]
            name = "web1"
            address = "192.168.122.10"
            forwards = ["8080:80"]
            [[guest]]
            name = "web2"
            address = "192.168.122.11"
            forwards = ["8080:8080"]
            """)
        #expect(throws: PlanError(problems: [
            "conflict: tcp port 8080 on every address: guests web1 and web2 both claim it (8080:80/tcp and 8080:8080/tcp)",
        ])) { try Plan(guests: g, settings: Settings()) }
    }

    @Test func overlappingRangesConflict() throws {
        let g = try guests("""
            [[guest]]
            name = "a"
            address = "192.168.122.10"
            forwards = ["10000-10099/udp"]
            [[guest]]
            name = "b"
            address = "192.168.122.11"
            forwards = ["10050-10150:20050-20150/udp"]
            """)
        #expect(throws: PlanError(problems: [
            "conflict: udp ports 10050-10099 on every address: guests a and b both claim it (10000-10099:10000-10099/udp and 10050-10150:20050-20150/udp)",
        ])) { try Plan(guests: g, settings: Settings()) }
    }

    @Test func wildcardAgainstBoundAddressConflicts() throws {
        let g = try guests("""
            [[guest]]
            name = "a"
            address = "192.168.122.10"
            forwards = ["198.51.100.1:443"]
            [[guest]]
            name = "b"
            address = "192.168.122.11"
            forwards = ["443"]
            """)
        #expect(throws: PlanError(problems: [
            "conflict: tcp port 443 on every address and on 198.51.100.1: guests a and b both claim it (198.51.100.1:443:443/tcp and 443:443/tcp)",
        ])) { try Plan(guests: g, settings: Settings()) }
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
        let g = try guests("[[guest]]\nname = \"a\"\naddress = \"192.168.122.10\"\nforwards = [\"80\", \"79-81\"]\n")
        #expect(throws: PlanError(problems: [
            "conflict: tcp port 80 on every address: guest a declares it twice (79-81:79-81/tcp and 80:80/tcp)",
        ])) { try Plan(guests: g, settings: Settings()) }
    }

    @Test func boundIPv6ForwardNeedsAddress6() throws {
        let g = try guests("[[guest]]\nname = \"a\"\naddress = \"192.168.122.10\"\nforwards = [\"[2001:db8::1]:443\"]\n")
        #expect(throws: PlanError(problems: [
            "guest a: forward [2001:db8::1]:443:443/tcp is bound to an IPv6 host address, but the guest has no address6",
        ])) { try Plan(guests: g, settings: Settings()) }
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
        // All lead to one guest port: one shared counter element.
        #expect(Counted.endpoints(plan.entries).count == 1)
    }
}

@Suite struct ResolverTests {
    let uuid = try! DomainUUID("6f1f1b2c-8d7e-4c5b-9a3e-1b2c3d4e5f60")

    @Test func runningGuestMergesConfigAndMetadataForwards() throws {
        let config = try Config.parse("[[guest]]\nname = \"web1\"\nforwards = [\"8080:80\"]\n")
        let running = RunningGuest(uuid: uuid, name: try GuestName("web1"), address4: IPAddress("192.168.122.10"),
                                   addressSource: "lease",
                                   metadataForwards: [Forward(spec: try PortSpec.parse("8080:80"), origin: .metadata),
                                                      Forward(spec: try PortSpec.parse("9090"), origin: .metadata)])
        let (guests, _) = Resolver.guests(config: config, running: [running], all: false)
        #expect(guests.count == 1)
        #expect(guests[0].forwards.map(\.spec.description) == ["8080:80/tcp", "9090:9090/tcp"])
        #expect(guests[0].address4?.description == "192.168.122.10")
    }

    @Test func metadataOffIgnoresMetadataForwards() throws {
        let config = try Config.parse("[settings]\nmetadata = false\n")
        let running = RunningGuest(uuid: uuid, name: try GuestName("web1"), address4: IPAddress("192.168.122.10"),
                                   metadataForwards: [Forward(spec: try PortSpec.parse("9090"), origin: .metadata)])
        #expect(Resolver.guests(config: config, running: [running], all: false).guests.isEmpty)
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
        let (without, _) = Resolver.guests(config: config, running: [], all: false)
        #expect(without.isEmpty)
        let (guests, warnings) = Resolver.guests(config: config, running: [], all: true)
        #expect(guests.map(\.name.value) == ["up"])
        #expect(warnings == ["guest[1] (nowhere): skipped, no address in the config (addresses are only discovered when the guest starts)"])
    }
}
