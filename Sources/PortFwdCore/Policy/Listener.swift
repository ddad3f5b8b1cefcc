/// A socket of the host's own that takes connections on a port: a TCP socket listening, a
/// UDP or SCTP socket bound. A forward on the same address and port would hide it: our DNAT
/// runs before the host's sockets see the packet.
public struct Listener: Hashable, Sendable, CustomStringConvertible {
    public let proto: Proto
    /// nil: every address of the host (0.0.0.0, ::).
    public let address: IPAddress?
    public let port: UInt16
    /// The socket's inode, to find its process when a message needs it.
    public let inode: UInt64
    /// The socket's owner (nil: unknown, taken as root's).
    public let uid: UInt32?

    public init(proto: Proto, address: IPAddress?, port: UInt16, inode: UInt64 = 0, uid: UInt32? = 0) {
        self.proto = proto
        self.address = address
        self.port = port
        self.inode = inode
        self.uid = uid
    }

    /// Whether the socket is a host service with the authority to keep a port from a guest:
    /// root's, or a system user's by Debian's policy (0-999 system, 60000-64999 allocated by
    /// Debian). Any local user can open a socket, and nobody (65534) is everyone's: their
    /// sockets never decide a guest's forwards.
    public var isSystem: Bool {
        guard let uid else { return true }
        return uid < 1000 || (60000...64999).contains(uid)
    }

    /// Whether a forward of `spec` would take this socket's connections. Loopback sockets are
    /// never hidden: nothing of ours applies to a loopback destination.
    public func isHidden(by spec: PortSpec) -> Bool {
        guard spec.proto == proto, spec.hostPorts.lower <= port, port <= spec.hostPorts.upper else { return false }
        if let address, address.isLoopback { return false }
        guard let address, let bound = spec.hostAddress else { return true }
        return address == bound
    }

    public var description: String {
        "\(proto.rawValue) \(address.map { $0.family.bracketed($0) } ?? "*"):\(port)"
    }

    /// The socket and its owner, for a line about a user's socket: `tcp *:8022 of uid 1001`.
    public var ownedDescription: String { "\(self)" + (isSystem ? "" : " of uid \(uid.map(String.init) ?? "?")") }
}
