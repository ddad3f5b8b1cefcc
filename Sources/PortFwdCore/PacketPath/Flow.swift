/// Our traffic as the other firewalls on the forward hook see it: one forward's connections,
/// in one direction and state, after our DNAT and before the reply's un-DNAT. What a rule can
/// know of it is what a rule can match: interfaces, addresses, protocol, ports, conntrack state
/// and status, our mark bit. What varies from one connection to the next (the client's address
/// and port, the interface it comes in on) is left open, and a rule that depends on it is
/// said to depend on the client (`Doubt.client`).
public struct Flow: Sendable, Hashable {
    public enum Direction: String, Sendable, Hashable { case original, reply }
    public enum State: String, Sendable, Hashable { case new, established }

    /// An interface as the flow knows it.
    public enum Link: Sendable, Hashable {
        /// This one: the guest's bridge.
        case named(String)
        /// Whichever the client uses; never one of these bridges (libvirt's).
        case outside(excluding: Set<String>)
        /// The guest's bridge, whose name is not known here.
        case unknown
    }

    /// What an address of the flow is: the guest's, or a client's from these networks.
    public enum Address: Sendable, Hashable {
        case host(IPAddress)
        case clients([Network])
    }

    public let forward: PlanEntry
    public let direction: Direction
    public let state: State
    public let iif: Link
    public let oif: Link
    public let source: Address
    public let destination: Address
    /// nil: any port (the client's).
    public let sourcePorts: PortRange?
    public let destinationPorts: PortRange?
    public let mark: Mark

    public var family: Family { forward.family }
    public var proto: Proto { forward.proto }

    /// Every flow a plan's forwards make, from clients outside the host's libvirt bridges:
    /// a new connection, its later packets, and the guest's replies.
    /// - Parameter bridges: each libvirt network's bridge and subnets; a guest in none of them
    ///   goes out on an interface of unknown name.
    public static func flows(of plan: Plan) -> [Flow] { flows(of: plan.entries, settings: plan.settings, bridges: plan.bridges) }

    static func flows(of entries: [PlanEntry], settings: Settings, bridges links: [String: [Network]]) -> [Flow] {
        let bridges = Set(links.keys)
        return entries.flatMap { e -> [Flow] in
            let bridge = links.first { _, subnets in subnets.contains { $0.contains(e.guestAddress) } }?.key
            let guestLink: Link = bridge.map(Link.named) ?? .unknown
            let outside = Link.outside(excluding: bridges)
            let guest = Address.host(e.guestAddress), clients = Address.clients(e.sources)
            let mark = settings.mark
            return [
                Flow(forward: e, direction: .original, state: .new, iif: outside, oif: guestLink, source: clients, destination: guest,
                     sourcePorts: nil, destinationPorts: e.guestPorts, mark: mark),
                Flow(forward: e, direction: .original, state: .established, iif: outside, oif: guestLink, source: clients, destination: guest,
                     sourcePorts: nil, destinationPorts: e.guestPorts, mark: mark),
                Flow(forward: e, direction: .reply, state: .established, iif: guestLink, oif: outside, source: guest, destination: clients,
                     sourcePorts: e.guestPorts, destinationPorts: nil, mark: mark),
            ]
        }
    }

    /// What a rule can tell of the flow: everything but which forward it belongs to. Flows of
    /// one shape meet every rule alike, so each shape is walked once (10,000 forwards to one
    /// guest port of a few guests are a handful of shapes).
    public struct Shape: Hashable, Sendable {
        let direction: Direction, state: State, iif: Link, oif: Link, source: Address, destination: Address
        let sourcePorts: PortRange?, destinationPorts: PortRange?, family: Family, proto: Proto
    }

    public var shape: Shape {
        Shape(direction: direction, state: state, iif: iif, oif: oif, source: source, destination: destination,
              sourcePorts: sourcePorts, destinationPorts: destinationPorts, family: family, proto: proto)
    }

    /// One flow of each shape: all that deciding where a rule goes needs. Entries that differ
    /// only in their host side (10,000 host ports to one guest port) make the same flows, so
    /// the flows of one entry each stand for them all.
    public static func representatives(of plan: Plan) -> [Flow] {
        grouped(flows(of: sides(of: plan).map(\.first!), settings: plan.settings, bridges: plan.bridges)).map(\.flow)
    }

    /// The plan's entries by what the forward path sees of them (the guest's side: family,
    /// protocol, address, ports, allowed clients), in plan order.
    static func sides(of plan: Plan) -> [[PlanEntry]] {
        struct Side: Hashable { let family: Family; let proto: Proto; let guest: IPAddress; let ports: PortRange; let sources: [Network] }
        var order: [Side] = [], members: [Side: [PlanEntry]] = [:]
        for e in plan.entries {
            let side = Side(family: e.family, proto: e.proto, guest: e.guestAddress, ports: e.guestPorts, sources: e.sources)
            if members[side] == nil { order.append(side) }
            members[side, default: []].append(e)
        }
        return order.map { members[$0]! }
    }

    /// One flow of each shape, with every forward of that shape.
    public static func grouped(_ flows: [Flow]) -> [(flow: Flow, forwards: [PlanEntry])] {
        var order: [Shape] = []
        var groups: [Shape: (Flow, [PlanEntry])] = [:]
        for flow in flows {
            let shape = flow.shape
            if groups[shape] == nil { order.append(shape); groups[shape] = (flow, []) }
            groups[shape]!.1.append(flow.forward)
        }
        return order.map { (groups[$0]!.0, groups[$0]!.1) }
    }

    /// `new connections`, `replies`, for messages.
    public var label: String {
        switch (direction, state) {
        case (.original, .new): return "new connections"
        case (.original, .established): return "established connections"
        case (.reply, _): return "replies"
        }
    }
}
