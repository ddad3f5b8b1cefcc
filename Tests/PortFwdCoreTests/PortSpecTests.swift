import Testing
import PortFwdCore

@Suite struct PortSpecTests {
    @Test(arguments: [
        ("8080:80", "8080:80/tcp"),
        ("2222:22/tcp", "2222:22/tcp"),
        ("5353/udp", "5353:5353/udp"),
        ("198.51.100.1:8443:443", "198.51.100.1:8443:443/tcp"),
        ("198.51.100.1:8443", "198.51.100.1:8443:8443/tcp"),
        ("[2001:db8::1]:8443:443", "[2001:db8::1]:8443:443/tcp"),
        ("[2001:0db8:0::1]:8443", "[2001:db8::1]:8443:8443/tcp"),
        ("10000-10099:20000-20099/udp", "10000-10099:20000-20099/udp"),
        ("8000-8010", "8000-8010:8000-8010/tcp"),
        ("9999/sctp", "9999:9999/sctp"),
        ("65535:1", "65535:1/tcp"),
        // Docker's habit: 0.0.0.0 (and ::) means every address, as if none were given.
        ("0.0.0.0:8080:80", "8080:80/tcp"),
        ("[::]:8443:443", "8443:443/tcp"),
    ])
    func parsesAndPrintsCanonically(input: String, canonical: String) throws {
        let spec = try PortSpec.parse(input)
        #expect(spec.description == canonical)
        #expect(try PortSpec.parse(spec.description) == spec)
    }

    @Test func rangeMapsOffsetPreserving() throws {
        let spec = try PortSpec.parse("8000-8010:9000-9010")
        #expect(spec.hostPorts == PortRange(8000, 8010))
        #expect(spec.guestPorts == PortRange(9000, 9010))
        #expect(spec.proto == .tcp)
        #expect(spec.hostAddress == nil)
    }

    @Test(arguments: [
        ("0:80", "port 0 is not allowed"),
        ("8080:0", "port 0 is not allowed"),
        ("70000:80", "port 70000 is over 65535"),
        ("8080:65536", "port 65536 is over 65535"),
        ("8010-8000", "range 8010-8000 is reversed"),
        ("8000-8010:9000-9005", "host range 8000-8010 has 11 ports but guest range 9000-9005 has 6"),
        ("8000-8010:80", "host range 8000-8010 has 11 ports but guest range 80 has 1"),
        ("8080/icmp", "unknown protocol 'icmp' (use tcp, udp or sctp)"),
        ("8080/TCP", "unknown protocol 'TCP' (use tcp, udp or sctp)"),
        ("198.51.100.300:8443:443", "'198.51.100.300' is not an IPv4 address (put IPv6 addresses in brackets)"),
        ("2001:db8::1:8443:443", "too many ':' (put IPv6 addresses in brackets)"),
        ("[2001:db8::zz]:8443", "'2001:db8::zz' is not an IPv6 address"),
        ("[198.51.100.1]:8443", "'198.51.100.1' is not an IPv6 address"),
        ("[2001:db8::1:8443", "'[' without ']' around the IPv6 address"),
        ("abc", "'abc' is not a port number"),
        ("8080:", "'' is not a port or port range"),
        ("", "it is empty"),
        ("80 80", "it contains spaces or non-ASCII characters"),
        ("-80", "'-80' is not a port or port range"),
        ("127.0.0.1:8080", "host address 127.0.0.1 is loopback: forwarding from it needs route_localnet, which would let neighbours reach the guest "
            + "through 127.0.0.0/8; bind to a real address or to none"),
        ("127.0.0.2:8080:80", "host address 127.0.0.2 is loopback: forwarding from it needs route_localnet, which would let neighbours reach the "
            + "guest through 127.0.0.0/8; bind to a real address or to none"),
        ("[::1]:8080", "host address ::1 is loopback: forwarding from it needs route_localnet, which would let neighbours reach the guest through "
            + "127.0.0.0/8; bind to a real address or to none"),
        ("[::ffff:127.0.0.1]:8080", "host address ::ffff:127.0.0.1 is loopback: forwarding from it needs route_localnet, which would let neighbours "
            + "reach the guest through 127.0.0.0/8; bind to a real address or to none"),
        ("[::ffff:198.51.100.1]:8080", "host address ::ffff:198.51.100.1 is an IPv4-mapped IPv6 address; write the IPv4 address"),
        ("224.0.0.1:8080", "host address 224.0.0.1 cannot receive forwarded connections"),
        ("255.255.255.255:8080", "host address 255.255.255.255 cannot receive forwarded connections"),
        ("[fe80::1]:8080", "host address fe80::1 is link-local; bind to a routable address"),
        ("1:2:3", "'1' is not an IPv4 address (put IPv6 addresses in brackets)"),
    ] as [(String, String)])
    func refusesWithSpecAndReason(input: String, reason: String) {
        #expect(throws: PortFwdError(.invalidInput, "bad port spec '\(input)': \(reason)")) { try PortSpec.parse(input) }
    }
}

@Suite struct NetworkTests {
    @Test func parsesCIDRAndBareAddresses() throws {
        #expect(try Network.parse("203.0.113.0/24").description == "203.0.113.0/24")
        #expect(try Network.parse("198.51.100.7").description == "198.51.100.7/32")
        #expect(try Network.parse("2001:db8:1::/48").description == "2001:db8:1::/48")
        #expect(try Network.parse("0.0.0.0/0").description == "0.0.0.0/0")
    }

    @Test func refusesHostBitsAndBadPrefixes() {
        #expect(throws: PortFwdError(.invalidInput, "'203.0.113.5/24' has host bits set; did you mean "
            + "203.0.113.0/24?")) { try Network.parse("203.0.113.5/24") }
        #expect(throws: PortFwdError(.invalidInput, "'203.0.113.0/33' has an invalid prefix length (0-32)")) { try Network.parse("203.0.113.0/33") }
        #expect(throws: PortFwdError(.invalidInput, "'example.com' is not an IP address or CIDR network")) { try Network.parse("example.com") }
    }

    @Test func minimalCoverDropsNestedNetworks() throws {
        let nets = try ["203.0.113.0/25", "203.0.113.0/24", "198.51.100.1", "203.0.113.0/24"].map(Network.parse)
        #expect(Network.minimalCover(nets).map(\.description) == ["198.51.100.1/32", "203.0.113.0/24"])
    }
}

@Suite struct AddressTests {
    /// No address a lease, a record, metadata or the config names can be a DNAT target if it
    /// is one of these, in either family and in IPv4-mapped form.
    @Test(arguments: ["0.0.0.0", "127.0.0.1", "127.1.2.3", "224.0.0.5", "255.255.255.255", "169.254.169.254",
                      "::", "::1", "ff02::1", "fe80::5", "::ffff:127.0.0.1", "::ffff:192.168.122.10"])
    func neverAGuestAddress(text: String) throws {
        let address = try #require(IPAddress(text))
        #expect(address.guestRefusal != nil, "\(text)")
    }

    @Test(arguments: ["192.168.122.10", "10.0.0.1", "fd00:122::10", "2001:db8::5"])
    func ordinaryAddressesAreGuestAddresses(text: String) throws {
        #expect(try #require(IPAddress(text)).guestRefusal == nil)
    }

    @Test func networksKnowTheirBroadcastAndLoopback() throws {
        #expect(Network(masking: IPAddress("192.168.122.77")!, prefix: 24).broadcast == IPAddress("192.168.122.255"))
        #expect(Network(masking: IPAddress("10.1.2.3")!, prefix: 31).broadcast == nil)
        #expect(Network.loopback(.ipv4).description == "127.0.0.0/8")
        #expect(Network.loopback(.ipv6).description == "::1/128")
    }
}
