/// A JSON document as values: what libnftables prints with NFT_CTX_OUTPUT_JSON, and libvirt's
/// lease files (`LeaseFile`). Read by a small parser of its own: FoundationEssentials'
/// JSONDecoder has no way to ask a value its kind, and guessing through `try?` built an error
/// per wrong guess, which was most of the time of reading a listing of 10,000 counters.
///
/// Bounded: a document of more than `maximumSize` bytes, nested deeper than its caller's
/// depth (`maximumDepth` at most), or holding a number longer than 100 characters is refused
/// with the byte where it stopped. The parse recurses once per level of nesting only, and
/// every step is linear in the input.
public enum JSONValue: Sendable, Equatable {
    case object([String: JSONValue])
    case array([JSONValue])
    case string(String)
    case unsigned(UInt64)
    case integer(Int64)
    case double(Double)
    case bool(Bool)
    case null

    public subscript(key: String) -> JSONValue? { if case .object(let o) = self { return o[key] }; return nil }
    public var array: [JSONValue]? { if case .array(let a) = self { return a }; return nil }
    public var string: String? { if case .string(let s) = self { return s }; return nil }
    public var int: Int? {
        switch self {
        case .unsigned(let n): return Int(exactly: n)
        case .integer(let n): return Int(exactly: n)
        default: return nil
        }
    }
    public var uint64: UInt64? {
        switch self {
        case .unsigned(let n): return n
        // nft 1.0's JSON prints a 64-bit counter of 2^63 or more as a negative number: the
        // same bits, read back as unsigned.
        case .integer(let n): return UInt64(bitPattern: n)
        default: return nil
        }
    }

    public struct Failure: Error, Sendable {
        public let reason: String
    }

    /// Levels of arrays and objects: nft's JSON nests about ten deep, a lease file two.
    public static let maximumDepth = 128
    /// nft's listing of a table of 50,000 map elements is a few megabytes.
    public static let maximumSize = 64 << 20

    /// One JSON text (RFC 8259), whitespace around it allowed, nothing after it, nested at
    /// most `depth` levels (at most `maximumDepth`).
    public static func parse(_ bytes: [UInt8], depth: Int = maximumDepth) throws(Failure) -> JSONValue {
        guard bytes.count <= maximumSize else { throw Failure(reason: "the document is \(bytes.count) bytes, more than \(maximumSize)") }
        var reader = JSONReader(bytes: bytes, maximumDepth: min(depth, maximumDepth))
        let value = try reader.value(depth: 0)
        reader.skipSpace()
        guard reader.i == bytes.count else { throw reader.fail("text after the value") }
        return value
    }
}

private struct JSONReader {
    let bytes: [UInt8]
    var i = 0
    let maximumDepth: Int
    /// No number either document holds needs more: a 64-bit counter is 20 digits.
    static let maximumNumberLength = 100

    init(bytes: [UInt8], maximumDepth: Int) {
        self.bytes = bytes
        self.maximumDepth = maximumDepth
    }

    func fail(_ why: String) -> JSONValue.Failure { JSONValue.Failure(reason: "\(why) at byte \(i)") }

    mutating func skipSpace() {
        while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x0A || bytes[i] == 0x0D || bytes[i] == 0x09 { i += 1 }
    }

    mutating func expect(_ word: String) throws(JSONValue.Failure) {
        for b in word.utf8 {
            guard i < bytes.count, bytes[i] == b else { throw fail("expected \(word)") }
            i += 1
        }
    }

    mutating func value(depth: Int) throws(JSONValue.Failure) -> JSONValue {
        guard depth < maximumDepth else { throw fail("nested more than \(maximumDepth) levels deep") }
        skipSpace()
        guard i < bytes.count else { throw fail("a value is missing") }
        switch bytes[i] {
        case UInt8(ascii: "{"):
            i += 1
            var object: [String: JSONValue] = [:]
            skipSpace()
            if i < bytes.count, bytes[i] == UInt8(ascii: "}") { i += 1; return .object(object) }
            while true {
                skipSpace()
                guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { throw fail("expected a key") }
                let key = try string()
                skipSpace()
                try expect(":")
                object[key] = try value(depth: depth + 1)
                skipSpace()
                guard i < bytes.count else { throw fail("an object is not closed") }
                if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                if bytes[i] == UInt8(ascii: "}") { i += 1; return .object(object) }
                throw fail("expected ',' or '}'")
            }
        case UInt8(ascii: "["):
            i += 1
            var array: [JSONValue] = []
            skipSpace()
            if i < bytes.count, bytes[i] == UInt8(ascii: "]") { i += 1; return .array(array) }
            while true {
                array.append(try value(depth: depth + 1))
                skipSpace()
                guard i < bytes.count else { throw fail("an array is not closed") }
                if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                if bytes[i] == UInt8(ascii: "]") { i += 1; return .array(array) }
                throw fail("expected ',' or ']'")
            }
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try expect("true"); return .bool(true)
        case UInt8(ascii: "f"): try expect("false"); return .bool(false)
        case UInt8(ascii: "n"): try expect("null"); return .null
        default: return try number()
        }
    }

    mutating func string() throws(JSONValue.Failure) -> String {
        i += 1
        var out: [UInt8] = []
        while true {
            // A run of plain bytes is copied at once.
            let run = i
            while i < bytes.count, bytes[i] >= 0x20, bytes[i] != UInt8(ascii: "\""), bytes[i] != UInt8(ascii: "\\") { i += 1 }
            out += bytes[run..<i]
            guard i < bytes.count else { throw fail("a string is not closed") }
            let c = bytes[i]
            if c == UInt8(ascii: "\"") { i += 1; break }
            if c < 0x20 { throw fail("a control character in a string") }
            i += 1
            guard i < bytes.count else { throw fail("an escape is cut short") }
            let e = bytes[i]
            i += 1
            switch e {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hex4()
                if (0xD800..<0xDC00).contains(scalar) {
                    // A high surrogate takes the low one that must follow it.
                    guard i + 1 < bytes.count, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u") else {
                        throw fail("a lone surrogate")
                    }
                    i += 2
                    let low = try hex4()
                    guard (0xDC00..<0xE000).contains(low) else { throw fail("a lone surrogate") }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                }
                guard let u = Unicode.Scalar(scalar) else { throw fail("a lone surrogate") }
                out.append(contentsOf: Array(String(Character(u)).utf8))
            default: throw fail("an unknown escape")
            }
        }
        // Invalid UTF-8 is replaced, not trusted: these strings only ever go into messages.
        return String(decoding: out, as: UTF8.self)
    }

    mutating func hex4() throws(JSONValue.Failure) -> UInt32 {
        guard i + 4 <= bytes.count else { throw fail("a \\u escape is cut short") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = bytes[i] | 0x20
            let d: UInt8
            if c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") { d = c - UInt8(ascii: "0") }
            else if c >= UInt8(ascii: "a") && c <= UInt8(ascii: "f") { d = c - UInt8(ascii: "a") + 10 }
            else { throw fail("a \\u escape is not hexadecimal") }
            v = v << 4 | UInt32(d)
            i += 1
        }
        return v
    }

    /// An integer becomes `.unsigned` (or `.integer` when negative) when it fits, anything else
    /// with a fraction or an exponent `.double`.
    mutating func number() throws(JSONValue.Failure) -> JSONValue {
        let start = i
        if i < bytes.count, bytes[i] == UInt8(ascii: "-") { i += 1 }
        let digits = i
        while i < bytes.count, bytes[i] >= UInt8(ascii: "0"), bytes[i] <= UInt8(ascii: "9") { i += 1 }
        guard i > digits else { throw fail("expected a value") }
        guard bytes[digits] != UInt8(ascii: "0") || i == digits + 1 else { throw fail("a number with a leading zero") }
        var integral = true
        if i < bytes.count, bytes[i] == UInt8(ascii: ".") {
            integral = false
            i += 1
            let fraction = i
            while i < bytes.count, bytes[i] >= UInt8(ascii: "0"), bytes[i] <= UInt8(ascii: "9") { i += 1 }
            guard i > fraction else { throw fail("a number without digits after '.'") }
        }
        if i < bytes.count, bytes[i] | 0x20 == UInt8(ascii: "e") {
            integral = false
            i += 1
            if i < bytes.count, bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-") { i += 1 }
            let exponent = i
            while i < bytes.count, bytes[i] >= UInt8(ascii: "0"), bytes[i] <= UInt8(ascii: "9") { i += 1 }
            guard i > exponent else { throw fail("a number without exponent digits") }
        }
        guard i - start <= Self.maximumNumberLength else { throw fail("a number longer than \(Self.maximumNumberLength) characters") }
        let text = String(decoding: bytes[start..<i], as: UTF8.self)
        if integral {
            if let n = UInt64(text) { return .unsigned(n) }
            if let n = Int64(text) { return .integer(n) }
        }
        guard let d = Double(text) else { throw fail("a number out of range") }
        return .double(d)
    }
}
