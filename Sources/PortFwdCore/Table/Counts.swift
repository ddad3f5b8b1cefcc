/// What the kernel counted in one place, both directions of a forward's connections together.
public struct Counts: Hashable, Sendable {
    public var packets: UInt64
    public var bytes: UInt64

    public init(packets: UInt64, bytes: UInt64) {
        self.packets = packets
        self.bytes = bytes
    }

    public static let zero = Counts(packets: 0, bytes: 0)

    public static func + (a: Counts, b: Counts) -> Counts { Counts(packets: a.packets &+ b.packets, bytes: a.bytes &+ b.bytes) }
}
