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

    public init(proto: Proto, address: IPAddress?, port: UInt16, inode: UInt64 = 0) {
        self.proto = proto
        self.address = address
        self.port = port
        self.inode = inode
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
}
