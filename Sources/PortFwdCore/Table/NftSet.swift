/// A set, or a map when it has data fields, with its declaration and elements.
public struct NftSet: Sendable {
    public var name: String
    /// The `#` line above it.
    public var comment: String?
    public var key: [NftField]
    public var data: [NftField]
    public var interval: Bool
    public var counter: Bool
    public var elements: [NftElement]
    /// Whether the listing this set was read from says if it counts (libnftables < 1.0.6
    /// lists no set statements): when it does not, `counter` is not compared.
    public var counterListed = true

    public init(name: String, comment: String? = nil, key: [NftField], data: [NftField] = [], interval: Bool = false,
                counter: Bool = false, elements: [NftElement] = []) {
        self.name = name
        self.comment = comment
        self.key = key
        self.data = data
        self.interval = interval
        self.counter = counter
        self.elements = elements
    }

    public var isMap: Bool { !data.isEmpty }

    /// `ipv4_addr . inet_proto . inet_service`, with ` : ...` for a map.
    public var type: String {
        key.map(\.description).joined(separator: " . ") + (data.isEmpty ? "" : " : " + data.map(\.description).joined(separator: " . "))
    }

    /// Type and flags, for messages: `ipv4_addr . inet_service, flags interval, counter`.
    public var declaration: String { type + (interval ? ", flags interval" : "") + (counter ? ", counter" : "") }

    /// Same declaration: type and flags.
    func declaredLike(_ other: NftSet) -> Bool {
        key == other.key && data == other.data && interval == other.interval
            && (counter == other.counter || !counterListed || !other.counterListed)
    }
}
