import PortFwdReaders

/// What the kernel made of each rule of ours, as our last install left it: a digest of the
/// rule's expression as libnftables lists it, by chain and identity.
///
/// A rule's identity lives in its comment, which anyone who replaces the rule can copy: alone it
/// cannot tell our rule from another statement carrying our comment. The kernel's expression of
/// our statement is known only once the kernel holds it (our text and libnftables' listing are
/// two syntaxes), so the install lists its rules right after the swap, and drift compares the
/// rules listed later against these digests.
///
/// Kept in the state directory (`StateStore.ruleContents`), which only root may write; read
/// strictly all the same: a file that does not read is no knowledge, never a verdict.
public struct RuleContents: Equatable, Sendable {
    public struct Key: Hashable, Sendable {
        public let chain: String
        public let identity: RuleIdentity
    }

    public private(set) var digests: [Key: UInt64] = [:]
    /// What else the kernel's listing depended on (`NftablesRunner.generation`): digests of
    /// another generation are learnt again, as after an upgrade of nftables or the kernel.
    public private(set) var generation = ""

    public init() {}

    /// The rules of ours `table` (a listing) holds that carry a content digest.
    public init(listed table: NftTable, generation: String) {
        self.generation = Self.isGeneration(generation) ? generation : ""
        for chain in table.chains {
            for rule in chain.rules {
                guard let identity = rule.identity, let content = rule.content, Self.isWord(chain.name) else { continue }
                digests[Key(chain: chain.name, identity: identity)] = content
            }
        }
    }

    public subscript(chain: String, identity: RuleIdentity) -> UInt64? { digests[Key(chain: chain, identity: identity)] }

    public var isEmpty: Bool { digests.isEmpty }

    /// Whether every rule of ours in `chains` (a plan's) has its digest: then an install of
    /// them, in this generation, has nothing to learn. The same statement compiles to the same
    /// expression, and a changed statement is another identity.
    public func covers(_ chains: [NftChain], generation: String) -> Bool {
        generation == self.generation && chains.allSatisfy { chain in
            chain.rules.allSatisfy { rule in rule.identity.map { self[chain.name, $0] != nil } ?? true }
        }
    }

    /// More rules than any plan of ours has (a few per chain): a longer file is not ours.
    static let maximumRules = 512

    /// `generation WORDS`, then one line per rule: `dnat4 open-any 1a2b3c4d 0123456789abcdef`, sorted.
    public var text: String {
        "generation \(generation)\n" + digests.map { key, content in "\(key.chain) \(key.identity) \(Self.hex(content))\n" }.sorted().joined()
    }

    /// The lines `text` writes; nil for anything else, whole (one bad line, no knowledge).
    /// Read as bytes: every apply reads this file, and String's splitting and Character
    /// classes cost a hundred times more for what is ASCII by construction.
    public init?(text: String) {
        let newline = UInt8(ascii: "\n"), space = UInt8(ascii: " ")
        let bytes = Array(text.utf8)
        guard bytes.last == newline else { return nil }
        var lines: [Range<Int>] = [], start = 0
        for (i, byte) in bytes.enumerated() where byte == newline {
            lines.append(start..<i)
            start = i + 1
            guard lines.count <= Self.maximumRules + 1 else { return nil }
        }
        let prefix = "generation ".utf8
        guard let first = lines.first, bytes[first].starts(with: prefix) else { return nil }
        generation = String(decoding: bytes[first].dropFirst(prefix.count), as: UTF8.self)
        guard Self.isGeneration(generation) else { return nil }
        for line in lines.dropFirst() {
            let words = bytes[line].split(separator: space, omittingEmptySubsequences: false)
            guard words.count == 4, Self.isWord(words[0]), Self.isWord(words[1]),
                  words[2].count == 8, let digest = ASCIIHex.value(words[2]).flatMap(UInt32.init(exactly:)),
                  words[3].count == 16, let content = ASCIIHex.value(words[3]) else { return nil }
            let role = String(decoding: words[1], as: UTF8.self)
            digests[Key(chain: String(decoding: words[0], as: UTF8.self), identity: RuleIdentity(role: role, digest: digest))] = content
        }
    }

    /// Printable ASCII words, as `LibNftables.generation` writes them; bounded.
    static func isGeneration(_ text: String) -> Bool {
        text.utf8.count <= 512 && text.utf8.allSatisfy { $0 >= 0x20 && $0 < 0x7f }
    }

    /// Chain names and roles of ours: short words of letters, digits, `-` and `_`.
    static func isWord(_ word: some StringProtocol) -> Bool { isWord(Array(word.utf8)[...]) }

    static func isWord(_ bytes: ArraySlice<UInt8>) -> Bool {
        !bytes.isEmpty && bytes.count <= 64 && bytes.allSatisfy { b in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(b) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(b)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b) || b == UInt8(ascii: "-") || b == UInt8(ascii: "_")
        }
    }

    /// A digest of a rule's expression as libnftables lists it (`"expr"`): objects by sorted
    /// key, and counters' values left out, which are traffic, not the rule.
    public static func digest(expression: JSONValue) -> UInt64 {
        var digest = Fingerprint.Digest()
        add(expression, to: &digest)
        return digest.fingerprint.value
    }

    private static func add(_ json: JSONValue, to digest: inout Fingerprint.Digest) {
        switch json {
        case .object(let object):
            digest.add("{")
            for key in object.keys.sorted() {
                digest.add("\(key.utf8.count):\(key)=")
                if key != "packets", key != "bytes" { add(object[key]!, to: &digest) }
                digest.add(",")
            }
            digest.add("}")
        case .array(let array):
            digest.add("[")
            for item in array {
                add(item, to: &digest)
                digest.add(",")
            }
            digest.add("]")
        case .string(let s): digest.add("s\(s.utf8.count):\(s)")
        case .unsigned(let n): digest.add("u\(n)")
        case .integer(let n): digest.add("i\(n)")
        case .double(let d): digest.add("d\(d)")
        case .bool(let b): digest.add(b ? "t" : "f")
        case .null: digest.add("n")
        }
    }

    static func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}
