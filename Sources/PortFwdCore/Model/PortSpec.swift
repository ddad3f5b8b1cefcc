/// One port mapping in the grammar admins know from Docker's `-p`:
/// `[HOST_ADDR:]HOST_PORT[-END][:GUEST_PORT[-END]][/PROTO]`.
///
/// Ranges map offset-preserving: `8000-8010:9000-9010` sends 8005 to 9005.
public struct PortSpec: Hashable, Sendable, CustomStringConvertible {
    /// nil: every local address of the host.
    public let hostAddress: IPAddress?
    public let hostPorts: PortRange
    public let guestPorts: PortRange
    public let proto: Proto

    public init(hostAddress: IPAddress? = nil, hostPorts: PortRange, guestPorts: PortRange, proto: Proto = .tcp) {
        precondition(hostPorts.count == guestPorts.count)
        self.hostAddress = hostAddress
        self.hostPorts = hostPorts
        self.guestPorts = guestPorts
        self.proto = proto
    }

    public static func parse(_ text: String) throws(PortFwdError) -> PortSpec {
        do {
            return try parseUnlabelled(text)
        } catch {
            throw PortFwdError(.invalidInput, "bad port spec '\(text)': \(error.message)")
        }
    }

    private static func parseUnlabelled(_ text: String) throws(PortFwdError) -> PortSpec {
        guard !text.isEmpty else { throw PortFwdError(.invalidInput, "it is empty") }
        guard text.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw PortFwdError(.invalidInput, "it contains spaces or non-ASCII characters")
        }
        var rest = Substring(text)
        var proto = Proto.tcp
        // Searches go by UTF-8 byte (the text is ASCII by now): a config may hold ten thousand specs.
        if let slash = rest.utf8.lastIndex(of: UInt8(ascii: "/")) {
            let name = rest[rest.index(after: slash)...]
            guard let p = Proto(rawValue: String(name)) else {
                throw PortFwdError(.invalidInput, "unknown protocol '\(name)' (use tcp, udp or sctp)")
            }
            proto = p
            rest = rest[..<slash]
        }

        var hostAddress: IPAddress?
        if rest.utf8.first == UInt8(ascii: "[") {
            guard let close = rest.utf8.firstIndex(of: UInt8(ascii: "]")) else {
                throw PortFwdError(.invalidInput, "'[' without ']' around the IPv6 address")
            }
            let inner = rest[rest.index(after: rest.startIndex)..<close]
            guard let address = IPAddress(String(inner)), address.family == .ipv6 else {
                throw PortFwdError(.invalidInput, "'\(inner)' is not an IPv6 address")
            }
            hostAddress = address
            rest = rest[rest.index(after: close)...]
            guard rest.utf8.first == UInt8(ascii: ":") else { throw PortFwdError(.invalidInput, "expected ':' and a port after ']'") }
            rest = rest.dropFirst()
        }

        var parts = pieces(of: rest, at: UInt8(ascii: ":"))
        if hostAddress == nil {
            // Three parts, or two whose first looks like an address, start with HOST_ADDR.
            let first = parts.first ?? ""
            if parts.count == 3 || (parts.count == 2 && first.utf8.contains(UInt8(ascii: "."))) {
                guard let address = IPAddress(String(first)), address.family == .ipv4 else {
                    throw PortFwdError(.invalidInput, "'\(first)' is not an IPv4 address (put IPv6 addresses in brackets)")
                }
                hostAddress = address
                parts.removeFirst()
            } else if parts.count > 3 {
                throw PortFwdError(.invalidInput, "too many ':' (put IPv6 addresses in brackets)")
            }
        }
        guard parts.count == 1 || parts.count == 2 else { throw PortFwdError(.invalidInput, "too many ':'") }
        if let address = hostAddress {
            // Docker's habit: 0.0.0.0 (and ::) means every address, as if none were given.
            if address.isUnspecified {
                hostAddress = nil
            } else if let refusal = Self.hostRefusal(address) {
                throw PortFwdError(.invalidInput, refusal)
            }
        }

        let hostPorts = try PortRange.parse(parts[0])
        let guestPorts = parts.count == 2 ? try PortRange.parse(parts[1]) : hostPorts
        guard hostPorts.count == guestPorts.count else {
            throw PortFwdError(.invalidInput, "host range \(hostPorts) has \(hostPorts.count) ports "
                + "but guest range \(guestPorts) has \(guestPorts.count)")
        }
        return PortSpec(hostAddress: hostAddress, hostPorts: hostPorts, guestPorts: guestPorts, proto: proto)
    }

    /// Why `address` cannot be the host address a forward is bound to, or nil.
    static func hostRefusal(_ address: IPAddress) -> String? {
        if address.isLoopback {
            // A DNAT to a guest would need route_localnet=1 to serve 127.0.0.1, and that setting
            // lets any LAN neighbour that routes 127.0.0.0/8 to the host in (moby #45610).
            return "host address \(address) is loopback: forwarding from it needs route_localnet, "
                + "which would let neighbours reach the guest through 127.0.0.0/8; bind to a real address or to none"
        }
        if address.isMulticast || address.isBroadcast { return "host address \(address) cannot receive forwarded connections" }
        if address.mappedIPv4 != nil { return "host address \(address) is an IPv4-mapped IPv6 address; write the IPv4 address" }
        if address.isLinkLocal { return "host address \(address) is link-local; bind to a routable address" }
        return nil
    }

    /// The canonical spelling; parsing it gives back an equal value.
    public var description: String {
        var text = ""
        if let address = hostAddress { text += address.family.bracketed(address) + ":" }
        text += "\(hostPorts):\(guestPorts)/\(proto.rawValue)"
        return text
    }
}

/// `text` cut at every `separator` byte, empty pieces kept; a plain loop because specs are
/// parsed by the ten thousand and the generic `split` allocates more than the parse needs.
func pieces(of text: Substring, at separator: UInt8) -> [Substring] {
    var result: [Substring] = []
    result.reserveCapacity(3)
    var start = text.startIndex
    var index = text.utf8.startIndex
    while index != text.utf8.endIndex {
        if text.utf8[index] == separator {
            result.append(text[start..<index])
            start = text.utf8.index(after: index)
        }
        index = text.utf8.index(after: index)
    }
    result.append(text[start...])
    return result
}
