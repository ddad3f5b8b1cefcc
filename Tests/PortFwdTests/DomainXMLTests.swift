import Foundation
import Testing
@testable import PortFwd

enum DomainFixtures {
    static func domain(name: String = "web1", uuid: String = "b25138cb-e016-4a00-af7a-35d7ccb49851",
                       metadata: String = "", interfaces: String = defaultInterface) -> Data {
        Data("""
            <domain type='qemu' id='1'>
              <name>\(name)</name>
              <uuid>\(uuid)</uuid>
              <metadata>\(metadata)</metadata>
              <memory unit='KiB'>65536</memory>
              <devices>
                <emulator>/usr/bin/qemu-system-x86_64</emulator>
                \(interfaces)
              </devices>
            </domain>
            """.utf8)
    }

    static let defaultInterface = """
        <interface type='network'>
          <mac address='52:54:00:00:00:10'/>
          <source network='default' portid='ba96e398-5a86-41be-9224-9b1bbf996efc' bridge='virbr0'/>
          <target dev='vnet0'/>
        </interface>
        """

    /// What `virsh metadata --key portfwd --set` stores: the key becomes the prefix.
    static let virshMetadata = """
        <portfwd:forwards xmlns:portfwd="urn:libvirt-portfwd:1">
          <portfwd:forward spec="8080:80" source="203.0.113.0/24"/>
          <portfwd:address>192.168.122.10</portfwd:address>
        </portfwd:forwards>
        """
}

@Suite struct DomainXMLTests {
    @Test func runningDomainWithPrefixedMetadataAndBridge() throws {
        let d = try Domain.parse(DomainFixtures.domain(metadata: DomainFixtures.virshMetadata))
        #expect(d.name.value == "web1")
        #expect(d.uuid.value == "b25138cb-e016-4a00-af7a-35d7ccb49851")
        #expect(d.interfaces == [Domain.Interface(mac: "52:54:00:00:00:10", network: "default", bridge: "virbr0")])
        let m = try #require(d.metadata)
        #expect(m.forwards.map(\.description) == ["8080:80/tcp from 203.0.113.0/24"])
        #expect(m.forwards.first?.origin == .metadata)
        #expect(m.address4?.description == "192.168.122.10")
    }

    @Test func unprefixedChildrenMatchByLocalName() throws {
        // Hand-written: namespace on the root only, children with no prefix and so no namespace.
        let d = try Domain.parse(DomainFixtures.domain(metadata: """
            <pfw:forwards xmlns:pfw="urn:libvirt-portfwd:1"><forward spec="2222:22"/><forward spec="5353/udp" source="198.51.100.0/24, 203.0.113.7"/><address6>fd00:122::10</address6></pfw:forwards>
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
            Domain.Interface(mac: "52:54:00:aa:00:01", network: nil, bridge: "br0"),
            Domain.Interface(mac: "52:54:00:00:00:10", network: "default", bridge: nil),
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
         "metadata <address> #1: '127.0.0.1' is not a usable guest address"),
    ])
    func badMetadataIsRefusedWithTheElement(metadata: String, message: String) {
        #expect(throws: ParseError(message)) { try Domain.parse(DomainFixtures.domain(metadata: metadata)) }
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
        #expect(throws: ParseError("XML with a DOCTYPE or entity declarations is refused")) { try Domain.parse(Data(xml.utf8)) }
    }

    @Test func billionLaughsIsRefusedBeforeAnyExpansion() {
        var xml = "<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n<!ENTITY lol \"lol\">\n"
        for i in 1...9 { xml += "<!ENTITY lol\(i) \"\(String(repeating: "&lol\(i == 1 ? "" : String(i - 1));", count: 10))\">\n" }
        xml += "]>\n<domain><name>&lol9;</name></domain>"
        let start = Date()
        #expect(throws: ParseError("XML with a DOCTYPE or entity declarations is refused")) { try Domain.parse(Data(xml.utf8)) }
        #expect(Date().timeIntervalSince(start) < 1)
    }

    @Test func oversizedInputIsRefused() {
        let big = Data(repeating: UInt8(ascii: " "), count: XMLNode.maximumSize + 1)
        #expect(throws: ParseError("XML is \(XMLNode.maximumSize + 1) bytes; refusing more than \(XMLNode.maximumSize) bytes")) {
            try Domain.parse(big)
        }
    }

    /// The parts of XML libvirt's documents use, through our libxml2 SAX shim.
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
        let root = try XMLNode.parse(Data(xml.utf8))
        #expect(root.name == "domain" && root.namespace == nil && root.attributes == ["type": "kvm"])
        #expect(root.child("name")?.text == "a & b AB")
        let forward = try #require(root.child("metadata")?.child("forwards")?.child("forward"))
        #expect(forward.namespace == "urn:libvirt-portfwd:1")
        #expect(forward.attributes == ["spec": "8080:80", "pf:note": "x < y"])
        #expect(root.child("description")?.text == "<not a tag>")
    }

    @Test func malformedXMLIsAnErrorNotACrash() {
        #expect(throws: ParseError.self) { try Domain.parse(Data("<domain><name>x</domain>".utf8)) }
        // libxml2's own reason, with its line. Foundation's XMLParser accepted this document.
        #expect { try XMLNode.parse(Data("<a>\n<b>\n</a>".utf8)) } throws: { error in
            let text = "\(error)"
            return text.hasPrefix("malformed XML at line 3: ") && text.contains("mismatch")
        }
        #expect(throws: ParseError("malformed XML: the document is empty")) { try XMLNode.parse(Data()) }
        #expect(throws: ParseError.self) { try XMLNode.parse(Data("<a x='1' x='2'/>".utf8)) }
        #expect(throws: ParseError.self) { try XMLNode.parse(Data("<a>&unknown;</a>".utf8)) }
        #expect(throws: ParseError("not a domain XML (root element <network>)")) { try Domain.parse(Data("<network/>".utf8)) }
    }
}

@Suite struct AddressDiscoveryTests {
    let tree = TempDir()
    let network = """
        <network>
          <name>default</name>
          <bridge name='virbr0' stp='on' delay='0'/>
          <ip address='192.168.122.1' netmask='255.255.255.0'>
            <dhcp>
              <range start='192.168.122.2' end='192.168.122.254'/>
              <host mac='52:54:00:00:00:10' ip='192.168.122.10'/>
            </dhcp>
          </ip>
        </network>
        """

    func domain(mac: String = "52:54:00:00:00:10") throws -> Domain {
        try Domain.parse(DomainFixtures.domain(interfaces: "<interface type='network'><mac address='\(mac)'/><source network='default'/></interface>"))
    }

    var discovery: AddressDiscovery { AddressDiscovery(paths: LibvirtPaths(root: tree.path), now: Date(timeIntervalSince1970: 1_800_000_000)) }

    @Test func explicitAddressWins() throws {
        tree.write("etc/libvirt/qemu/networks/default.xml", network)
        let found = try discovery.addresses(for: try domain(), explicit4: IPAddress("192.168.122.99"), explicit6: nil)
        #expect(found == .init(address4: IPAddress("192.168.122.99"), address6: nil, source: "explicit"))
    }

    @Test func staticDHCPHostFromTheNetworkDefinition() throws {
        tree.write("etc/libvirt/qemu/networks/default.xml", network)
        let found = try discovery.addresses(for: try domain(), explicit4: nil, explicit6: nil)
        #expect(found == .init(address4: IPAddress("192.168.122.10"), address6: nil, source: "dhcp-host"))
    }

    @Test func runtimeStatusWrapperIsRead() throws {
        tree.write("run/libvirt/network/default.xml", "<networkstatus><class_id bitmap='0-2'/>\(network)</networkstatus>")
        let found = try discovery.addresses(for: try domain(), explicit4: nil, explicit6: nil)
        #expect(found.address4?.description == "192.168.122.10")
    }

    @Test func currentLeaseWhenNoStaticHost() throws {
        tree.write("etc/libvirt/qemu/networks/default.xml", network)
        tree.write("var/lib/libvirt/dnsmasq/virbr0.status", """
            [{"ip-address":"192.168.122.50","mac-address":"52:54:00:00:00:20","hostname":"g","expiry-time":1700000000},
             {"ip-address":"192.168.122.51","mac-address":"52:54:00:00:00:20","hostname":"g","expiry-time":1800003600}]
            """)
        let found = try discovery.addresses(for: try domain(mac: "52:54:00:00:00:20"), explicit4: nil, explicit6: nil)
        // The first lease expired before `now`; the second is current.
        #expect(found == .init(address4: IPAddress("192.168.122.51"), address6: nil, source: "lease"))
    }

    @Test func nothingFoundSaysWhatToAdd() throws {
        tree.write("etc/libvirt/qemu/networks/default.xml", network)
        let error = #expect(throws: ParseError.self) { try discovery.addresses(for: try domain(mac: "52:54:00:00:00:30"), explicit4: nil, explicit6: nil) }
        #expect(error?.reason == "no address for guest web1: add address = \"...\" to its [[guest]] in the config or <address> to its metadata, or a static DHCP <host mac='52:54:00:00:00:30' ip='...'/> to its network (no current lease for 52:54:00:00:00:30 either)")
    }

    @Test func hostileBridgeNamesNeverBecomePaths() {
        tree.write("x.status", "[{\"ip-address\":\"192.168.122.9\",\"mac-address\":\"52:54:00:00:00:10\",\"expiry-time\":0}]")
        #expect(Leases.current(bridge: "../../../x", mac: "52:54:00:00:00:10", paths: LibvirtPaths(root: tree.path), now: Date()).isEmpty)
    }
}
