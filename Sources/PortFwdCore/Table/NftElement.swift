/// One element of a set (a key) or of a map (a key and its data). Two elements are the same
/// element when key and data are: the counter is state and the owner a comment, neither shape.
public struct NftElement: Hashable, Sendable, CustomStringConvertible {
    public var key: [NftValue]
    /// Empty in a set.
    public var data: [NftValue]
    /// What the kernel counted, in a set with counters.
    public var counter: Counts?
    /// The guest it serves, named in a `#` comment above it.
    public var owner: GuestName?
    /// The element's own comment, kept by the kernel: a count set's owner token
    /// (`PlanEntry.owner`). Written from typed values only.
    public var comment: String?

    public init(_ key: [NftValue], data: [NftValue] = [], counter: Counts? = nil, owner: GuestName? = nil, comment: String? = nil) {
        self.key = key
        self.data = data
        self.counter = counter
        self.owner = owner
        self.comment = comment
    }

    public static func == (a: NftElement, b: NftElement) -> Bool { a.key == b.key && a.data == b.data }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(key)
        hasher.combine(data)
    }

    /// `tcp . 8080 : 192.168.122.10 . 80`, as nft writes it.
    public var description: String {
        var out = ""
        for (i, value) in key.enumerated() {
            if i > 0 { out += " . " }
            out += value.description
        }
        for (i, value) in data.enumerated() {
            out += i == 0 ? " : " : " . "
            out += value.description
        }
        return out
    }
}
