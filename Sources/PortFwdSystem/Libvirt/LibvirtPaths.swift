/// Where libvirt keeps what a hook may read without calling libvirt (which would deadlock).
/// `root` prefixes them all, so tests can point at a fake tree.
public struct LibvirtPaths: Sendable, Equatable {
    public let root: String

    public init(root: String = "") {
        self.root = root.hasSuffix("/") ? String(root.dropLast()) : root
    }

    /// Persistent definitions first, then the runtime state of started networks.
    public var networkDirectories: [String] { ["\(root)/etc/libvirt/qemu/networks", "\(root)/run/libvirt/network"] }
    /// dnsmasq's leases as libvirt's lease helper writes them: `<bridge>.status`.
    public var leaseDirectory: String { "\(root)/var/lib/libvirt/dnsmasq" }
    /// The status XML of every running qemu domain, written by libvirtd and virtqemud alike.
    public var runningDomainDirectory: String { "\(root)/run/libvirt/qemu" }
    /// The kernel's view of this network namespace: sockets, neighbours and iptables-legacy's
    /// loaded tables. The one source of /proc/net for every reader (`Host.procNet` is this).
    public var procNet: String { "\(root)/proc/net" }
}
