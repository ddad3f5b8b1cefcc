import Foundation
import Testing
@testable import PortFwd
import PortFwdCore
import PortFwdSystem

typealias DomainFixtures = Fixtures

@Suite struct DomainXMLTests {
    @Test func runningDomainWithPrefixedMetadataAndBridge() throws {
        let d = try Domain.parse(DomainFixtures.domain(metadata: DomainFixtures.virshMetadata))
        #expect(d.name.value == "web1")
        #expect(d.uuid.value == "b25138cb-e016-4a00-af7a-35d7ccb49851")
        #expect(d.interfaces == [RunningGuest.Interface(mac: MAC("52:54:00:00:00:10")!, network: "default", bridge: "virbr0")])
        let m = try #require(d.metadata)
        #expect(m.forwards.map(\.description) == ["8080:80/tcp from 203.0.113.0/24"])
        #expect(m.forwards.first?.origin == .metadata)
        #expect(m.address4?.description == "192.168.122.10")
    }

    @Test func unprefixedChildrenMatchByLocalName() throws {
        // Hand-written: namespace on the root only, children with no prefix and so no namespace.
        let d = try Domain.parse(DomainFixtures.domain(metadata: """
            <pfw:forwards xmlns:pfw="urn:libvirt-portfwd:1"><forward spec="2222:22"/>\
            <forward spec="5353/udp" source="198.51.100.0/24, 203.0.113.7"/><address6>fd00:122::10</address6></pfw:forwards>
            """))
        let m = try #require(d.metadata)
        #expect(m.forwards.map(\.description) == ["2222:22/tcp", "5353:5353/udp from 198.51.100.0/24,203.0.113.7/32"])
        #expect(m.address6?.description == "fd00:122::10")
    }

    @Test func defaultNamespaceWorksAndOtherNamespacesAreIgnored() throws {
        let d = try Domain.parse(DomainFixtures.domain(metadata: """
            <app:x xmlns:app="urn:other:1"><forward spec="1"/></app:x>
            <forwards xmlns="urn:libvirt-portfwd:1"><forward spec="8443:443"/></forwards>
            """))
        #expect(d.metadata?.forwards.map(\.description) == ["8443:443/tcp"])
        let none = try Domain.parse(DomainFixtures.domain(metadata: "<app:x xmlns:app=\"urn:other:1\"/>"))
        #expect(none.metadata == nil)
    }

    @Test func severalInterfacesKeepOrderAndSkipThoseWithoutMAC() throws {
        let d = try Domain.parse(DomainFixtures.domain(interfaces: """
            <interface type='bridge'><mac address='52:54:00:AA:00:01'/><source bridge='br0'/></interface>
            <interface type='network'><mac address='52:54:00:00:00:10'/><source network='default'/></interface>
            <interface type='user'/>
            """))
        #expect(d.interfaces == [
            RunningGuest.Interface(mac: MAC("52:54:00:aa:00:01")!, network: nil, bridge: "br0"),
            RunningGuest.Interface(mac: MAC("52:54:00:00:00:10")!, network: "default", bridge: nil),
        ])
    }

    @Test(arguments: [
        ("<forwards xmlns='urn:libvirt-portfwd:1'><forward spec='0'/></forwards>",
         "metadata <forward> #1: bad port spec '0': port 0 is not allowed"),
        ("<forwards xmlns='urn:libvirt-portfwd:1'><forward/></forwards>", "metadata <forward> #1: missing spec attribute"),
        ("<forwards xmlns='urn:libvirt-portfwd:1'><forward spec='80' source='nope'/></forwards>",
         "metadata <forward> #1: source 'nope' is not an IP address or CIDR network"),
        ("<forwards xmlns='urn:libvirt-portfwd:1'><port>80</port></forwards>",
         "metadata <port> #1: unknown element (expected forward, address or address6)"),
        ("<forwards xmlns='urn:libvirt-portfwd:1'><address>127.0.0.1</address></forwards>",
         "metadata <address> #1: 127.0.0.1 is a loopback address"),
        ("<forwards xmlns='urn:libvirt-portfwd:1'><address6>::ffff:127.0.0.1</address6></forwards>",
         "metadata <address6> #1: ::ffff:127.0.0.1 is a loopback address"),
        ("<forwards xmlns='urn:libvirt-portfwd:1'><address>fd00::1</address></forwards>",
         "metadata <address> #1: 'fd00::1' is not an IPv4 address"),
    ])
    func badMetadataIsRefusedWithTheElement(metadata: String, message: String) throws {
        // The metadata is refused, with its element; the domain itself is still read.
        let d = try Domain.parse(DomainFixtures.domain(metadata: metadata))
        #expect(d.metadata == nil)
        #expect(d.metadataProblem == message)
        #expect(d.name.value == "web1" && d.interfaces.count == 1)
    }

    /// Only a real document type declaration is refused: the same text in a comment or a
    /// CDATA section, which a guest owner can put in the domain, is just text.
    @Test func doctypeInACommentOrCDATAIsText() throws {
        let d = try Domain.parse(DomainFixtures.domain(metadata: """
            <!-- <!DOCTYPE x [ <!ENTITY a "b"> ]> --><app:x xmlns:app="urn:other:1"><![CDATA[<!DOCTYPE y><!ENTITY z "w">]]></app:x>
            """))
        #expect(d.name.value == "web1")
    }

    @Test func externalEntityIsRefusedWithoutReadingTheFile() {
        let secret = NSTemporaryDirectory() + "pf-secret-\(UUID().uuidString)"
        try? "TOPSECRET".write(toFile: secret, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: secret) }
        let xml = """
            <?xml version="1.0"?>
            <!DOCTYPE domain [ <!ENTITY xxe SYSTEM "file://\(secret)"> ]>
            <domain><name>&xxe;</name><uuid>b25138cb-e016-4a00-af7a-35d7ccb49851</uuid></domain>
            """
        #expect(throws: PortFwdError(.invalidInput, "XML refused at line 2: a DOCTYPE declaration is refused (libvirt never "
            + "writes one)")) { try Domain.parse(Data(xml.utf8)) }
    }

    @Test func billionLaughsIsRefusedBeforeAnyExpansion() {
        var xml = "<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n<!ENTITY lol \"lol\">\n"
        for i in 1...9 { xml += "<!ENTITY lol\(i) \"\(String(repeating: "&lol\(i == 1 ? "" : String(i - 1));", count: 10))\">\n" }
        xml += "]>\n<domain><name>&lol9;</name></domain>"
        #expect(throws: PortFwdError(.invalidInput, "XML refused at line 2: a DOCTYPE declaration is refused (libvirt never "
            + "writes one)")) { try Domain.parse(Data(xml.utf8)) }
    }

    /// The DOCTYPE check reads bytes, so UTF-16 would slip past it; such input is refused
    /// first, and what protects the parser anyway is that no entity handler is registered.
    @Test func utf16AndNULBytesAreRefused() {
        let laughs = "<?xml version=\"1.0\" encoding=\"UTF-16\"?><!DOCTYPE d [<!ENTITY a \"aaaaaaaa\">]><domain><name>&a;</name></domain>"
        let utf16 = laughs.data(using: .utf16)!
        #expect(throws: PortFwdError(.invalidInput, "XML holds a NUL byte (UTF-16 or binary data); libvirt writes UTF-8")) { try Domain.parse(utf16) }
        #expect(throws: PortFwdError(.invalidInput, "XML holds a NUL byte (UTF-16 or binary data); libvirt writes UTF-8")) {
            try Domain.parse(Data("<domain><name>a\u{0}b</name></domain>".utf8))
        }
    }

    @Test func oversizedInputIsRefused() {
        let big = Data(repeating: UInt8(ascii: " "), count: XMLParser.maximumSize + 1)
        #expect(throws: PortFwdError(.invalidInput, "XML is \(XMLParser.maximumSize + 1) bytes; refusing more than \(XMLParser.maximumSize) bytes")) {
            try Domain.parse(big)
        }
    }

    /// The parts of XML libvirt's documents use, through the parser: the CDATA section sends this
    /// document to libxml2 (XMLReaderTests holds our own reader to the same trees).
    @Test func xmlTreeKeepsNamespacesEntitiesAndText() throws {
        let xml = """
            <?xml version="1.0"?>
            <!-- a comment -->
            <domain xmlns:pf="urn:libvirt-portfwd:1" type='kvm'>
              <name>a &amp; b &#x41;&#66;</name>
              <metadata><pf:forwards><pf:forward spec="8080:80" pf:note='x &lt; y'/></pf:forwards></metadata>
              <description><![CDATA[<not a tag>]]></description>
            </domain>
            """
        let root = try XMLParser.parse(Data(xml.utf8))
        #expect(root.name == "domain" && root.namespace == nil && root.attributes == ["type": "kvm"])
        #expect(root.child("name")?.text == "a & b AB")
        let forward = try #require(root.child("metadata")?.child("forwards")?.child("forward"))
        #expect(forward.namespace == "urn:libvirt-portfwd:1")
        #expect(forward.attributes == ["spec": "8080:80", "pf:note": "x < y"])
        #expect(root.child("description")?.text == "<not a tag>")
    }

    @Test func malformedXMLIsAnErrorNotACrash() {
        #expect(throws: PortFwdError.self) { try Domain.parse(Data("<domain><name>x</domain>".utf8)) }
        // libxml2's own reason, with its line. Foundation's XMLParser accepted this document.
        #expect { try XMLParser.parse(Data("<a>\n<b>\n</a>".utf8)) } throws: { error in
            let text = "\(error)"
            return text.hasPrefix("malformed XML at line 3: ") && text.contains("mismatch")
        }
        #expect(throws: PortFwdError(.invalidInput, "malformed XML: the document is empty")) { try XMLParser.parse(Data()) }
        #expect(throws: PortFwdError.self) { try XMLParser.parse(Data("<a x='1' x='2'/>".utf8)) }
        #expect(throws: PortFwdError.self) { try XMLParser.parse(Data("<a>&unknown;</a>".utf8)) }
        #expect(throws: PortFwdError(.invalidInput, "not a domain XML (root element <network>)")) { try Domain.parse(Data("<network/>".utf8)) }
    }
}

@Suite struct AddressDiscoveryTests {
    let tree = TempDir()

    func interfaces(mac: String = "52:54:00:00:00:10") -> [RunningGuest.Interface] {
        [RunningGuest.Interface(mac: MAC(mac)!, network: "default", bridge: nil)]
    }

    var libvirt: LibvirtFiles { LibvirtFiles(paths: LibvirtPaths(root: tree.path)) }
    let now = Date(timeIntervalSince1970: 1_800_000_000)
    var discovery: AddressDiscovery { AddressDiscovery(surroundings: libvirt.surroundings(now: now)) }

    @Test func staticDHCPHostFromTheNetworkDefinition() throws {
        tree.write("etc/libvirt/qemu/networks/default.xml", Fixtures.defaultNetwork)
        #expect(discovery.discover(interfaces()) == .init(address4: IPAddress("192.168.122.10"), address6: nil, source: .dhcpHost, clients: [:]))
    }

    @Test func runtimeStatusWrapperIsRead() throws {
        tree.write("run/libvirt/network/default.xml", "<networkstatus><class_id bitmap='0-2'/>\(Fixtures.defaultNetwork)</networkstatus>")
        #expect(discovery.discover(interfaces())?.address4?.description == "192.168.122.10")
    }

    @Test func currentLeaseWhenNoStaticHost() throws {
        tree.write("etc/libvirt/qemu/networks/default.xml", Fixtures.defaultNetwork)
        tree.write("var/lib/libvirt/dnsmasq/virbr0.status", """
            [{"ip-address":"192.168.122.50","mac-address":"52:54:00:00:00:20","hostname":"g","expiry-time":1700000000},
             {"ip-address":"192.168.122.51","mac-address":"52:54:00:00:00:20","hostname":"g","expiry-time":1800003600}]
            """)
        // The first lease expired before `now`; the second is current. Its client identity is
        // not the guest's yet: nobody has seen the guest use the address.
        #expect(discovery.discover(interfaces(mac: "52:54:00:00:00:20"))
                == .init(address4: IPAddress("192.168.122.51"), address6: nil, source: .lease, clients: [:]))
    }

    /// Leases and DHCP hosts pass the checks configured addresses get (hardening, class 2).
    @Test func hostileLeasesAndHostsAreNeverTargets() throws {
        tree.write("etc/libvirt/qemu/networks/default.xml", Fixtures.defaultNetwork.replacingOccurrences(
            of: "<host mac='52:54:00:00:00:10' ip='192.168.122.10'/>", with: "<host mac='52:54:00:00:00:10' ip='127.0.0.1'/>"))
        tree.write("var/lib/libvirt/dnsmasq/virbr0.status", """
            [{"ip-address":"127.0.0.1","mac-address":"52:54:00:00:00:10","expiry-time":0},
             {"ip-address":"169.254.169.254","mac-address":"52:54:00:00:00:10","expiry-time":0},
             {"ip-address":"0.0.0.0","mac-address":"52:54:00:00:00:10","expiry-time":0},
             {"ip-address":"224.0.0.1","mac-address":"52:54:00:00:00:10","expiry-time":0},
             {"ip-address":"255.255.255.255","mac-address":"52:54:00:00:00:10","expiry-time":0},
             {"ip-address":"10.9.9.9","mac-address":"52:54:00:00:00:10","expiry-time":0},
             {"ip-address":"192.168.122.60","mac-address":"52:54:00:00:00:10","expiry-time":"never"},
             {"ip-address":"192.168.122.61","mac-address":"52:54:00:00:00:10","expiry-time":true},
             {"ip-address":"192.168.122.62","mac-address":"52:54:00:00:00:10"}]
            """)
        // A string, `true` or a missing expiry is not an infinite lease, and the rest are no
        // guest's address: only 10.9.9.9 is found, as the guest's claim.
        let found = try #require(discovery.discover(interfaces()))
        #expect(found == .init(address4: IPAddress("10.9.9.9"), address6: nil, source: .lease, clients: [:]))
        // And the address rule refuses it: it is no address dnsmasq could have handed out on
        // 192.168.122.0/24. The guest waits, and the reason says why.
        let guest = RunningGuest(uuid: try DomainUUID(Fixtures.web1UUID), name: try GuestName("web1"), interfaces: interfaces(),
                                 address4: found.address4, addressSource: .lease,
                                 metadata: RunningGuest.Metadata(forwards: [Forward(spec: try PortSpec.parse("8080:80"), origin: .metadata)]))
        let result = Resolver.resolve(config: Config(), running: [guest], all: false, surroundings: libvirt.surroundings(now: now))
        #expect(result.guests.isEmpty)
        #expect(result.pending.map(\.reason.description) == [
            "guest web1: lease address 10.9.9.9 is not in the subnet of a libvirt network the guest is attached to (192.168.122.0/24)",
        ])
    }

    @Test func nothingFound() throws {
        tree.write("etc/libvirt/qemu/networks/default.xml", Fixtures.defaultNetwork)
        #expect(discovery.discover(interfaces(mac: "52:54:00:00:00:30")) == nil)
    }

    @Test func hostileBridgeNamesNeverBecomePaths() {
        tree.write("x.status", "[{\"ip-address\":\"192.168.122.9\",\"mac-address\":\"52:54:00:00:00:10\",\"expiry-time\":0}]")
        #expect(libvirt.leases(bridge: "../../../x", mac: MAC("52:54:00:00:00:10")!, now: Date()).isEmpty)
        #expect(libvirt.leaseFile(bridge: "../../../x") == nil)
    }

    @Test func networkSubnetsFromNetmaskAndPrefix() throws {
        let network = try NetworkDefinition(XMLParser.parse(Data(Fixtures.defaultNetwork.utf8)))
        #expect(network.subnets.map(\.network.description) == ["192.168.122.0/24", "fd00:122::/64"])
        #expect(network.subnets.map(\.gateway.description) == ["192.168.122.1", "fd00:122::1"])
        let odd = try NetworkDefinition(XMLParser.parse(Data("<network><name>n</name><ip address='10.0.0.1' netmask='255.0.255.0'/></network>".utf8)))
        #expect(odd.subnets.isEmpty, "a netmask that is not contiguous names no subnet")
    }
}
