/// `[settings]`: how forwards are installed, independent of any one guest.
public struct Settings: Hashable, Sendable {
    /// A firewall backend by name: the setting, `--backend`, the state directory's record of the
    /// one that applied last, and `status --json` all say it so. `auto` is only ever a choice.
    public enum Backend: String, Sendable, CaseIterable, Codable { case auto, nftables, iptables }
    public enum AdmissionMode: String, Sendable, CaseIterable {
        case auto, iptables, libvirtNftables = "libvirt-nftables", none
    }
    /// Which addresses a domain's metadata may name as its own.
    public enum MetadataAddress: String, Sendable, CaseIterable {
        /// Only an address the guest can hold on a libvirt network one of its interfaces is on.
        case interfaceNetwork = "interface-network"
        /// Any unicast address (the escape hatch for routed setups the policy cannot see).
        case any
    }

    public var backend: Backend = .auto
    public var admission: AdmissionMode = .auto
    /// The ct mark bit that tags connections we DNAT; admission rules accept exactly these.
    public var mark: Mark = .default
    public var hairpin = true
    public var hostAccess = true
    public var metadata = true
    /// Host ports a domain's own `<metadata>` may claim. Editing metadata must not be a way
    /// to open arbitrary host ports, so this defaults to the unprivileged range.
    public var metadataHostPorts: [PortRange] = [PortRange(1024, 65535)!]
    public var metadataAddress: MetadataAddress = .interfaceNetwork
    /// Caps on what one domain's metadata may ask for: each port of a range is one map element.
    public var metadataMaxForwards = 32
    public var metadataMaxPorts = 1024
    /// Host addresses forwards may be bound to although the host does not hold them (yet):
    /// a keepalived or pacemaker address that moves between hosts.
    public var floatingAddresses: [IPAddress] = []
    /// Config forwards may reach a guest on an isolated network (no `<forward>`), which libvirt
    /// keeps from everything beyond its bridge. Metadata forwards never may.
    public var isolatedForwards = false
    /// Where the watch service writes its Prometheus textfile: nil, the default (Debian's
    /// node_exporter directory, when it exists); empty, nowhere; else this absolute `.prom` path.
    public var prometheusTextfile: String?

    public init() {}
}

/// A single conntrack mark bit. One bit, so we coexist with other users of ct mark
/// (we only ever OR it in and test it with a mask).
public struct Mark: Hashable, Sendable, CustomStringConvertible {
    public let value: UInt32

    public static let `default` = Mark(unchecked: 0x1000_0000)

    private init(unchecked value: UInt32) { self.value = value }

    public init(_ value: Int) throws(PortFwdError) {
        guard value > 0, value <= Int(UInt32.max), value.nonzeroBitCount == 1 else {
            throw PortFwdError(.invalidInput, "mark must be a single bit such as 0x10000000, not \(value)")
        }
        self.value = UInt32(value)
    }

    /// `0x10000000`, the form iptables-save prints back, so saved rules compare equal.
    public var description: String { "0x" + String(value, radix: 16) }
    /// Every bit but ours, to clear it again.
    public var inverse: String { "0x" + String(~value, radix: 16) }
}
