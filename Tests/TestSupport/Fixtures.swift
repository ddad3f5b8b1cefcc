import Foundation

/// Configs, domains and networks the tests share.
public enum Fixtures {
    public static let web1UUID = "b25138cb-e016-4a00-af7a-35d7ccb49851"
    public static let web2UUID = "0a0b0c0d-0000-4000-8000-000000000002"

    /// web1 at 192.168.122.10 forwarding 8080 to 80.
    public static let web1 = """
        [[guest]]
        name = "web1"
        address = "192.168.122.10"
        forwards = ["8080:80"]

        """

    /// web1 with no address: it is found at start (the network's static DHCP host).
    public static let web1Discovered = "[[guest]]\nname = \"web1\"\nforwards = [\"8080:80\"]\n"

    public static func settings(_ lines: String...) -> String { "[settings]\n" + lines.joined(separator: "\n") + "\n" }

    /// libvirt's default NAT network: virbr0, 192.168.122.0/24, a static host for ...:10.
    public static let defaultNetwork = """
        <network>
          <name>default</name>
          <forward mode='nat'/>
          <bridge name='virbr0' stp='on' delay='0'/>
          <ip address='192.168.122.1' netmask='255.255.255.0'>
            <dhcp>
              <range start='192.168.122.2' end='192.168.122.254'/>
              <host mac='52:54:00:00:00:10' ip='192.168.122.10'/>
            </dhcp>
          </ip>
          <ip family='ipv6' address='fd00:122::1' prefix='64'/>
        </network>
        """

    public static func interface(mac: String = "52:54:00:00:00:10") -> String {
        "<interface type='network'><mac address='\(mac)'/><source network='default' bridge='virbr0'/></interface>"
    }

    public static func domain(name: String = "web1", uuid: String = web1UUID, metadata: String = "", interfaces: String = defaultInterface) -> Data {
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

    public static let defaultInterface = """
        <interface type='network'>
          <mac address='52:54:00:00:00:10'/>
          <source network='default' portid='ba96e398-5a86-41be-9224-9b1bbf996efc' bridge='virbr0'/>
          <target dev='vnet0'/>
        </interface>
        """

    /// What `virsh metadata --key portfwd --set` stores: the key becomes the prefix.
    public static let virshMetadata = """
        <portfwd:forwards xmlns:portfwd="urn:libvirt-portfwd:1">
          <portfwd:forward spec="8080:80" source="203.0.113.0/24"/>
          <portfwd:address>192.168.122.10</portfwd:address>
        </portfwd:forwards>
        """

    public static func metadata(_ body: String) -> String { "<forwards xmlns='urn:libvirt-portfwd:1'>\(body)</forwards>" }
}
