/// A TOML 1.0 reader, written for the one file this tool reads: every value keeps the line it
/// stands on, and any input, however broken, ends in a `TOML.Failure` naming the line and
/// column, never in a crash. (TOMLKit's toml++ 3.4 aborted the process on inputs such as
/// `[[[1]]]` or `a = [}`, and never freed a document; a hook must survive its config.)
///
/// Bounded, because the config and its drop-ins are read by every hook, `status` and the
/// service: nesting (arrays, tables, dotted keys and header parts alike) stops at
/// `maximumDepth` levels, so neither the parse nor the tree's release can recurse without
/// bound, and every step is linear in the input. One deliberate refusal beyond TOML 1.0: a
/// `\u0000` escape, which would put a NUL into a value (and end a C string downstream).
public enum TOML {
    /// Levels of arrays and tables a document may nest: a config needs five
    /// (`[[guest]]`, its table, `forwards`, an inline forward, its `sources`).
    public static let maximumDepth = 32
    /// The longest number or date-time, in bytes: a 64-bit integer needs 20 digits, and
    /// anything longer is not a value this config can use.
    public static let maximumScalarLength = 128

    public struct Failure: Error, Sendable, Equatable {
        public let line: Int
        public let column: Int
        public let reason: String
    }

    /// A value and the line it starts on.
    public struct Value: Sendable {
        public enum Kind: Sendable {
            case string(String), integer(Int64), float(Double), boolean(Bool)
            /// Offset or local date-times, dates and times, kept as written (validated).
            case datetime(String)
            case array([Value])
            case table(Table)
        }

        public let kind: Kind
        public let line: Int

        public var string: String? { if case .string(let s) = kind { return s }; return nil }
        public var int: Int? { if case .integer(let n) = kind { return Int(exactly: n) }; return nil }
        public var bool: Bool? { if case .boolean(let b) = kind { return b }; return nil }
        public var array: [Value]? { if case .array(let a) = kind { return a }; return nil }
        public var table: Table? { if case .table(let t) = kind { return t }; return nil }
    }

    /// A table's keys in the order they were defined, and their values.
    public struct Table: Sendable {
        public internal(set) var keys: [String] = []
        var values: [String: Value] = [:]
        public subscript(key: String) -> Value? { values[key] }
    }

    /// Parses a whole document.
    public static func parse(_ text: String) throws(Failure) -> Table {
        var parser = Parser(Array(text.utf8))
        return try parser.document()
    }
}

/// The parse: a recursive descent over UTF-8 bytes, building a tree of table nodes (classes,
/// so that headers can reopen a table) that becomes `TOML.Table` values at the end.
private struct Parser {
    let bytes: [UInt8]
    var i = 0
    var line = 1
    var lineStart = 0
    /// Counts table headers, so that dotted keys may extend only tables they made in this section.
    var section = 0
    /// Inline tables count down from -1: each is a section of its own.
    var inlineSections = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    final class Node {
        enum Origin { case implicit, header, dotted, inline, element }
        var origin: Origin
        var section: Int
        let line: Int
        /// Levels of arrays and tables above this table's contents: the root's are at 0.
        let depth: Int
        var order: [String] = []
        var entries: [String: Entry] = [:]
        init(_ origin: Origin, section: Int, line: Int, depth: Int) {
            self.origin = origin
            self.section = section
            self.line = line
            self.depth = depth
        }
        func set(_ key: String, _ entry: Entry) {
            if entries[key] == nil { order.append(key) }
            entries[key] = entry
        }
    }

    enum Entry {
        case value(TOML.Value)
        case table(Node)
        case tables(Tables)
    }

    /// An array of tables, appended to in place: one `[[guest]]` header costs the same
    /// whether it is the first or the forty-thousandth.
    final class Tables {
        var nodes: [Node]
        init(_ first: Node) { nodes = [first] }
    }

    // MARK: - positions and failures

    var column: Int { i - lineStart + 1 }
    var peek: UInt8? { i < bytes.count ? bytes[i] : nil }
    func at(_ offset: Int) -> UInt8? { i + offset < bytes.count ? bytes[i + offset] : nil }

    func fail(_ reason: String) -> TOML.Failure { TOML.Failure(line: line, column: column, reason: reason) }

    /// A table or array at `level` levels down, refused past the limit.
    func nest(_ level: Int) throws(TOML.Failure) {
        guard level <= TOML.maximumDepth else {
            throw fail("nested more than \(TOML.maximumDepth) levels deep (arrays, tables and dotted keys); a config needs five")
        }
    }

    /// A key path for a message: cut short, so that a ten-megabyte key makes one short line.
    static func shown<S: Sequence<String>>(_ path: S) -> String {
        var text = ""
        for part in path {
            if !text.isEmpty { text += "." }
            text += part.utf8.count > 64 ? String(decoding: part.utf8.prefix(60), as: UTF8.self) + "…" : part
            if text.utf8.count > 120 { return String(decoding: text.utf8.prefix(120), as: UTF8.self) + "…" }
        }
        return text
    }

    func describe(_ byte: UInt8?) -> String {
        guard let b = byte else { return "the end of the file" }
        if b == 0 { return "a NUL byte" }
        if b == 0x0A { return "the end of the line" }
        if b >= 0x21 && b < 0x7F { return "'\(Character(Unicode.Scalar(b)))'" }
        return "byte 0x\(String(b, radix: 16))"
    }

    mutating func newline() {
        line += 1
        lineStart = i
    }

    // MARK: - document

    mutating func document() throws(TOML.Failure) -> TOML.Table {
        let root = Node(.header, section: 0, line: 1, depth: 0)
        var current = root
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { i = 3; lineStart = 3 }
        while true {
            skipBlank()
            guard let c = peek else { break }
            if c == UInt8(ascii: "[") {
                current = try header(root)
            } else if c == UInt8(ascii: "\n") || c == UInt8(ascii: "\r") {
                try lineEnd()
                continue
            } else {
                try keyValue(into: current)
            }
            try lineEnd()
        }
        return Self.freeze(root)
    }

    /// Spaces, tabs and a comment, then a line end or the end of the file.
    mutating func lineEnd() throws(TOML.Failure) {
        skipSpaces()
        if peek == UInt8(ascii: "#") { try comment() }
        guard let c = peek else { return }
        if c == UInt8(ascii: "\r") && at(1) == UInt8(ascii: "\n") { i += 1 }
        guard peek == UInt8(ascii: "\n") else { throw fail("expected the end of the line, found \(describe(peek))") }
        i += 1
        newline()
    }

    mutating func skipSpaces() {
        while let c = peek, c == 0x20 || c == 0x09 { i += 1 }
    }

    /// Spaces and comments on lines of their own, and blank lines.
    mutating func skipBlank() {
        while true {
            skipSpaces()
            if peek == UInt8(ascii: "#") {
                if (try? comment()) == nil { return }
            }
            if peek == UInt8(ascii: "\n") { i += 1; newline(); continue }
            if peek == UInt8(ascii: "\r") && at(1) == UInt8(ascii: "\n") { i += 2; newline(); continue }
            return
        }
    }

    mutating func comment() throws(TOML.Failure) {
        i += 1
        while let c = peek, c != 0x0A {
            if c == 0x0D && at(1) == 0x0A { return }
            if (c < 0x20 && c != 0x09) || c == 0x7F { throw fail("a control character (\(describe(c))) in a comment") }
            try utf8Scalar()
        }
    }

    /// Steps over one UTF-8 scalar. The bytes are a Swift String's, so they are well-formed
    /// already; the lead byte gives the length.
    mutating func utf8Scalar() throws(TOML.Failure) {
        guard let c = peek else { return }
        if c < 0x80 { i += 1; return }
        let length = c >> 5 == 0b110 ? 2 : c >> 4 == 0b1110 ? 3 : c >> 3 == 0b11110 ? 4 : 0
        guard length > 0, i + length <= bytes.count else { throw fail("not UTF-8 text") }
        i += length
    }

    // MARK: - tables

    mutating func header(_ root: Node) throws(TOML.Failure) -> Node {
        let headerLine = line
        i += 1
        let isArray = peek == UInt8(ascii: "[")
        if isArray { i += 1 }
        skipSpaces()
        let path = try key()
        skipSpaces()
        guard peek == UInt8(ascii: "]") else { throw fail("expected ']' to close the table header, found \(describe(peek))") }
        i += 1
        if isArray {
            guard peek == UInt8(ascii: "]") else { throw fail("expected ']]' to close the array-of-tables header, found \(describe(peek))") }
            i += 1
        }
        section += 1
        var node = root
        for (n, part) in path.dropLast().enumerated() {
            node = try descend(node, part, path: path.prefix(n + 1))
        }
        let last = path.last!
        let name = Self.shown(path)
        switch node.entries[last] {
        case nil:
            // An element of an array of tables is two levels down: the array, then the table.
            let depth = node.depth + (isArray ? 2 : 1)
            try nest(depth)
            let fresh = Node(isArray ? .element : .header, section: section, line: headerLine, depth: depth)
            node.set(last, isArray ? .tables(Tables(fresh)) : .table(fresh))
            return fresh
        case .table(let existing):
            guard !isArray, existing.origin == .implicit else {
                throw TOML.Failure(line: headerLine, column: 1, reason: "table [\(name)] is defined twice (line \(existing.line))")
            }
            existing.origin = .header
            existing.section = section
            return existing
        case .tables(let list):
            guard isArray else { throw TOML.Failure(line: headerLine, column: 1, reason: "[\(name)] is an array of tables; write [[\(name)]]") }
            let fresh = Node(.element, section: section, line: headerLine, depth: node.depth + 2)
            list.nodes.append(fresh)
            return fresh
        case .value(let v):
            throw TOML.Failure(line: headerLine, column: 1, reason: "\(name) is already a value (line \(v.line)), not a table")
        }
    }

    /// The table at `part` below `node` on the way to a header: made if missing.
    mutating func descend(_ node: Node, _ part: String, path: ArraySlice<String>) throws(TOML.Failure) -> Node {
        switch node.entries[part] {
        case nil:
            try nest(node.depth + 1)
            let fresh = Node(.implicit, section: section, line: line, depth: node.depth + 1)
            node.set(part, .table(fresh))
            return fresh
        case .table(let t):
            if t.origin == .inline { throw fail("\(Self.shown(path)) is an inline table, which cannot be extended") }
            return t
        case .tables(let list):
            return list.nodes.last!
        case .value(let v):
            if case .array = v.kind { throw fail("\(Self.shown(path)) is a static array (line \(v.line)), which cannot be extended") }
            throw fail("\(Self.shown(path)) is already a value (line \(v.line)), not a table")
        }
    }

    // MARK: - keys and values

    mutating func keyValue(into table: Node) throws(TOML.Failure) {
        let keyLine = line
        let path = try key()
        skipSpaces()
        guard peek == UInt8(ascii: "=") else { throw fail("expected '=' after the key \(Self.shown(path)), found \(describe(peek))") }
        // Every part but the last is a table (a value that is an array or a table counts itself).
        try nest(table.depth + path.count - 1)
        i += 1
        skipSpaces()
        let value = try value(level: table.depth + path.count)
        var node = table
        for (n, part) in path.dropLast().enumerated() {
            switch node.entries[part] {
            case nil:
                let fresh = Node(.dotted, section: section, line: keyLine, depth: node.depth + 1)
                node.set(part, .table(fresh))
                node = fresh
            case .table(let t) where t.origin == .dotted && t.section == section:
                node = t
            default:
                throw TOML.Failure(line: keyLine, column: 1,
                                   reason: "\(Self.shown(path.prefix(n + 1))) is defined already; a dotted key cannot extend it here")
            }
        }
        let last = path.last!
        if let existing = node.entries[last] {
            let at: Int
            switch existing {
            case .value(let v): at = v.line
            case .table(let t): at = t.line
            case .tables(let l): at = l.nodes.first?.line ?? 0
            }
            throw TOML.Failure(line: keyLine, column: 1, reason: "\(Self.shown(path)) is defined twice (line \(at))")
        }
        node.set(last, .value(value))
    }

    /// A dotted key: its parts.
    mutating func key() throws(TOML.Failure) -> [String] {
        var parts: [String] = []
        while true {
            skipSpaces()
            guard let c = peek else { throw fail("expected a key, found the end of the file") }
            if c == UInt8(ascii: "\"") {
                if at(1) == c && at(2) == c { throw fail("a key cannot be a multi-line string") }
                parts.append(try basicString())
            } else if c == UInt8(ascii: "'") {
                if at(1) == c && at(2) == c { throw fail("a key cannot be a multi-line string") }
                parts.append(try literalString())
            } else if Self.isBare(c) {
                let start = i
                while let b = peek, Self.isBare(b) { i += 1 }
                parts.append(String(decoding: bytes[start..<i], as: UTF8.self))
            } else {
                throw fail("expected a key (letters, digits, '_', '-', or a quoted name), found \(describe(c))")
            }
            skipSpaces()
            guard peek == UInt8(ascii: ".") else { return parts }
            i += 1
        }
    }

    static func isBare(_ c: UInt8) -> Bool {
        (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x5F || c == 0x2D
    }

    /// A value `level` levels down: an array's items, and an inline table's keys, are one further.
    mutating func value(level: Int) throws(TOML.Failure) -> TOML.Value {
        let at = line
        guard let c = peek else { throw fail("expected a value, found the end of the file") }
        switch c {
        case UInt8(ascii: "\""):
            if self.at(1) == c && self.at(2) == c { return TOML.Value(kind: .string(try multilineBasic()), line: at) }
            return TOML.Value(kind: .string(try basicString()), line: at)
        case UInt8(ascii: "'"):
            if self.at(1) == c && self.at(2) == c { return TOML.Value(kind: .string(try multilineLiteral()), line: at) }
            return TOML.Value(kind: .string(try literalString()), line: at)
        case UInt8(ascii: "["):
            return TOML.Value(kind: .array(try array(level: level)), line: at)
        case UInt8(ascii: "{"):
            return TOML.Value(kind: .table(Self.freeze(try inlineTable(level: level))), line: at)
        case UInt8(ascii: "t"), UInt8(ascii: "f"):
            if match("true") { return TOML.Value(kind: .boolean(true), line: at) }
            if match("false") { return TOML.Value(kind: .boolean(false), line: at) }
            throw fail("expected a value (a quoted string, a number, true or false, [...] or {...}), found \(describe(c))")
        default:
            return TOML.Value(kind: try scalar(), line: at)
        }
    }

    mutating func match(_ word: String) -> Bool {
        let w = Array(word.utf8)
        guard bytes[i...].starts(with: w) else { return false }
        if let next = self.at(w.count), Self.isBare(next) { return false }
        i += w.count
        return true
    }

    mutating func array(level: Int) throws(TOML.Failure) -> [TOML.Value] {
        try nest(level)
        i += 1
        var items: [TOML.Value] = []
        while true {
            skipBlank()
            if peek == UInt8(ascii: "]") { i += 1; return items }
            items.append(try value(level: level + 1))
            skipBlank()
            if peek == UInt8(ascii: ",") { i += 1; continue }
            guard peek == UInt8(ascii: "]") else { throw fail("expected ',' or ']' in the array, found \(describe(peek))") }
            i += 1
            return items
        }
    }

    mutating func inlineTable(level: Int) throws(TOML.Failure) -> Node {
        try nest(level)
        let node = Node(.inline, section: section, line: line, depth: level)
        i += 1
        skipSpaces()
        if peek == UInt8(ascii: "}") { i += 1; return node }
        // Keys inside are their own section: dotted keys may build tables within it.
        let outer = section
        inlineSections -= 1
        section = inlineSections
        defer { section = outer }
        let scratch = Node(.dotted, section: section, line: line, depth: level)
        while true {
            skipSpaces()
            try keyValue(into: scratch)
            skipSpaces()
            if peek == UInt8(ascii: ",") { i += 1; continue }
            guard peek == UInt8(ascii: "}") else { throw fail("expected ',' or '}' in the inline table (on one line), found \(describe(peek))") }
            i += 1
            break
        }
        node.order = scratch.order
        node.entries = scratch.entries
        Self.seal(node)
        return node
    }

    /// Tables made inside an inline table cannot be extended later either. An inner inline
    /// table was sealed when it closed, and is not walked again.
    static func seal(_ node: Node) {
        node.origin = .inline
        for entry in node.entries.values { if case .table(let t) = entry, t.origin != .inline { seal(t) } }
    }

    // MARK: - strings

    mutating func basicString() throws(TOML.Failure) -> String {
        i += 1
        var out: [UInt8] = []
        while true {
            // A run of plain bytes is copied at once.
            let start = i
            while i < bytes.count, Self.isPlain(bytes[i]) || bytes[i] == 0x27 { i += 1 }
            out += bytes[start..<i]
            guard let c = peek else { throw fail("a string is not closed before the end of the file") }
            if c == UInt8(ascii: "\"") { i += 1; break }
            if c == 0x0A || c == 0x0D { throw fail("a string is not closed before the end of the line") }
            if c == UInt8(ascii: "\\") { try escape(into: &out); continue }
            if (c < 0x20 && c != 0x09) || c == 0x7F { throw fail(Self.control(c)) }
            let scalar = i
            try utf8Scalar()
            out += bytes[scalar..<i]
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// A byte that stands for itself in any string: printable ASCII but the quotes and the
    /// backslash, a tab, or part of a multi-byte scalar (well-formed: the text is a String's).
    static func isPlain(_ c: UInt8) -> Bool {
        (c >= 0x20 && c != 0x22 && c != 0x27 && c != 0x5C && c != 0x7F) || c == 0x09
    }

    mutating func literalString() throws(TOML.Failure) -> String {
        i += 1
        let start = i
        while true {
            while i < bytes.count, Self.isPlain(bytes[i]) || bytes[i] == 0x22 || bytes[i] == 0x5C { i += 1 }
            guard let c = peek else { throw fail("a string is not closed before the end of the file") }
            if c == UInt8(ascii: "'") { break }
            if c == 0x0A || c == 0x0D { throw fail("a string is not closed before the end of the line") }
            if (c < 0x20 && c != 0x09) || c == 0x7F { throw fail(Self.control(c)) }
            try utf8Scalar()
        }
        let text = String(decoding: bytes[start..<i], as: UTF8.self)
        i += 1
        return text
    }

    mutating func multilineBasic() throws(TOML.Failure) -> String {
        i += 3
        try trimFirstNewline()
        var out: [UInt8] = []
        while true {
            guard let c = peek else { throw fail("a multi-line string is not closed before the end of the file") }
            if c == UInt8(ascii: "\"") && at(1) == c && at(2) == c {
                // Up to two more quotes belong to the string: """a""""" is `a""`.
                var quotes = 3
                while quotes < 5 && at(quotes) == c { quotes += 1 }
                out += [UInt8](repeating: c, count: quotes - 3)
                i += quotes
                break
            }
            if c == UInt8(ascii: "\\") {
                // A line-ending backslash trims the newline and the blanks after it.
                var j = i + 1
                while j < bytes.count && (bytes[j] == 0x20 || bytes[j] == 0x09) { j += 1 }
                if j < bytes.count && (bytes[j] == 0x0A || (bytes[j] == 0x0D && j + 1 < bytes.count && bytes[j + 1] == 0x0A)) {
                    i = j
                    while let b = peek, b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D {
                        if b == 0x0D && at(1) != 0x0A { throw fail("a lone carriage return in a string") }
                        i += 1
                        if b == 0x0A { newline() }
                    }
                    continue
                }
                try escape(into: &out)
                continue
            }
            if c == 0x0A { out.append(c); i += 1; newline(); continue }
            if c == 0x0D && at(1) == 0x0A { out += [0x0D, 0x0A]; i += 2; newline(); continue }
            if (c < 0x20 && c != 0x09) || c == 0x7F { throw fail(Self.control(c)) }
            let start = i
            while i < bytes.count, Self.isPlain(bytes[i]) || bytes[i] == 0x27 { i += 1 }
            if i == start { try utf8Scalar() }
            out += bytes[start..<i]
        }
        return String(decoding: out, as: UTF8.self)
    }

    mutating func multilineLiteral() throws(TOML.Failure) -> String {
        i += 3
        try trimFirstNewline()
        var out: [UInt8] = []
        while true {
            guard let c = peek else { throw fail("a multi-line string is not closed before the end of the file") }
            if c == UInt8(ascii: "'") && at(1) == c && at(2) == c {
                var quotes = 3
                while quotes < 5 && at(quotes) == c { quotes += 1 }
                out += [UInt8](repeating: c, count: quotes - 3)
                i += quotes
                break
            }
            if c == 0x0A { out.append(c); i += 1; newline(); continue }
            if c == 0x0D && at(1) == 0x0A { out += [0x0D, 0x0A]; i += 2; newline(); continue }
            if (c < 0x20 && c != 0x09) || c == 0x7F { throw fail(Self.control(c)) }
            let start = i
            while i < bytes.count, Self.isPlain(bytes[i]) || bytes[i] == 0x22 || bytes[i] == 0x5C { i += 1 }
            if i == start { try utf8Scalar() }
            out += bytes[start..<i]
        }
        return String(decoding: out, as: UTF8.self)
    }

    mutating func trimFirstNewline() throws(TOML.Failure) {
        if peek == 0x0A { i += 1; newline() } else if peek == 0x0D && at(1) == 0x0A { i += 2; newline() }
    }

    mutating func escape(into out: inout [UInt8]) throws(TOML.Failure) {
        let backslash = column
        i += 1
        guard let c = peek else { throw fail("a string ends in a backslash") }
        i += 1
        switch c {
        case UInt8(ascii: "b"): out.append(0x08)
        case UInt8(ascii: "t"): out.append(0x09)
        case UInt8(ascii: "n"): out.append(0x0A)
        case UInt8(ascii: "f"): out.append(0x0C)
        case UInt8(ascii: "r"): out.append(0x0D)
        case UInt8(ascii: "\""): out.append(c)
        case UInt8(ascii: "\\"): out.append(c)
        case UInt8(ascii: "u"), UInt8(ascii: "U"):
            let width = c == UInt8(ascii: "u") ? 4 : 8
            guard i + width <= bytes.count, bytes[i..<(i + width)].allSatisfy({ Self.isHex($0) }),
                  let scalar = Unicode.Scalar(bytes[i..<(i + width)].reduce(UInt32(0)) { $0 << 4 | Self.hexValue($1) }) else {
                throw fail("\\\(Character(Unicode.Scalar(c))) needs \(width) hex digits naming a Unicode scalar")
            }
            // Valid TOML, refused on purpose: a NUL in a value would end a C string downstream.
            if scalar.value == 0 {
                throw TOML.Failure(line: line, column: backslash, reason: "a \\u0000 escape (a NUL) is not allowed in the config")
            }
            i += width
            out += UTF8.encode(scalar)!
        default:
            i -= 1
            throw fail("unknown escape \\\(describe(c).trimmingQuotes)")
        }
    }

    /// Why a control character in a string is refused; a NUL cannot be escaped either.
    static func control(_ c: UInt8) -> String {
        c == 0 ? "a NUL byte is not allowed in the config"
            : "a control character (byte 0x\(String(c, radix: 16))) in a string; write it as an escape in a \"...\" string"
    }

    static func isHex(_ c: UInt8) -> Bool { (c >= 0x30 && c <= 0x39) || (c | 0x20 >= 0x61 && c | 0x20 <= 0x66) }
    static func hexValue(_ c: UInt8) -> UInt32 { c <= 0x39 ? UInt32(c - 0x30) : UInt32(c | 0x20) - 0x61 + 10 }

    // MARK: - numbers, dates

    /// A number or a date-time: the run of characters up to a delimiter, then classified.
    mutating func scalar() throws(TOML.Failure) -> TOML.Value.Kind {
        let start = i
        let startColumn = column
        while let c = peek {
            if c == 0x20 || c == 0x09 {
                // A date and a time may be separated by one space.
                if i - start == 10, let d = at(1), d >= 0x30 && d <= 0x39, Self.looksLikeDate(bytes[start..<i]) { i += 1; continue }
                break
            }
            if c == UInt8(ascii: ",") || c == UInt8(ascii: "]") || c == UInt8(ascii: "}") || c == UInt8(ascii: "#")
                || c == 0x0A || c == 0x0D { break }
            i += 1
        }
        let word = bytes[start..<i]
        guard !word.isEmpty else { throw fail("expected a value, found \(describe(peek))") }
        let shown = String(decoding: word.prefix(40), as: UTF8.self)
        guard word.count <= TOML.maximumScalarLength else {
            throw TOML.Failure(line: line, column: startColumn,
                               reason: "'\(shown)…' is longer than \(TOML.maximumScalarLength) characters, too long for a number or a date")
        }
        if let kind = Self.number(Array(word)) { return kind }
        let text = String(decoding: word, as: UTF8.self)
        if Self.isDateTime(text) { return .datetime(text) }
        throw TOML.Failure(line: line, column: startColumn, reason: "'\(shown)' is not a value (strings need quotes)")
    }

    static func looksLikeDate(_ s: ArraySlice<UInt8>) -> Bool {
        let a = Array(s)
        return a.count == 10 && a[4] == 0x2D && a[7] == 0x2D
            && a.enumerated().allSatisfy { $0.offset == 4 || $0.offset == 7 || ($0.element >= 0x30 && $0.element <= 0x39) }
    }

    static func isDigit(_ c: UInt8, radix: Int = 10) -> Bool {
        switch radix {
        case 16: return isHex(c)
        case 8: return c >= 0x30 && c <= 0x37
        case 2: return c == 0x30 || c == 0x31
        default: return c >= 0x30 && c <= 0x39
        }
    }

    /// Digits of `radix` with single underscores between them; nil otherwise.
    static func digits(_ w: ArraySlice<UInt8>, radix: Int = 10) -> [UInt8]? {
        guard let first = w.first, let last = w.last, isDigit(first, radix: radix), isDigit(last, radix: radix) else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(w.count)
        var previous: UInt8 = 0
        for c in w {
            if c == 0x5F {
                guard previous != 0x5F else { return nil }
            } else {
                guard isDigit(c, radix: radix) else { return nil }
                out.append(c)
            }
            previous = c
        }
        return out
    }

    /// Integers (decimal, 0x, 0o, 0b, with single underscores between digits) and floats,
    /// read byte by byte: the word is at most `maximumScalarLength` bytes.
    static func number(_ w: [UInt8]) -> TOML.Value.Kind? {
        var body = w[...]
        var negative = false
        if body.first == UInt8(ascii: "+") || body.first == UInt8(ascii: "-") {
            negative = body.first == UInt8(ascii: "-")
            body = body.dropFirst()
        }
        if body.elementsEqual("inf".utf8) { return .float(negative ? -.infinity : .infinity) }
        if body.elementsEqual("nan".utf8) { return .float(.nan) }
        // 0x, 0o and 0b take no sign.
        if body.count >= 2, body.first == UInt8(ascii: "0"),
           let radix = [UInt8(ascii: "x"): 16, UInt8(ascii: "o"): 8, UInt8(ascii: "b"): 2][body[body.startIndex + 1]] {
            guard body.count == w.count, let digits = digits(body.dropFirst(2), radix: radix),
                  let n = Int64(String(decoding: digits, as: UTF8.self), radix: radix) else { return nil }
            return .integer(n)
        }
        guard let first = body.first, isDigit(first) else { return nil }
        let exponentAt = body.firstIndex { $0 | 0x20 == UInt8(ascii: "e") }
        let mantissa = body[..<(exponentAt ?? body.endIndex)]
        let dot = mantissa.firstIndex(of: UInt8(ascii: "."))
        guard let integral = digits(mantissa[..<(dot ?? mantissa.endIndex)]) else { return nil }
        if integral.count > 1 && integral.first == UInt8(ascii: "0") { return nil }
        let sign = negative ? "-" : ""
        if dot == nil && exponentAt == nil {
            return Int64(sign + String(decoding: integral, as: UTF8.self)).map { .integer($0) }
        }
        var text = sign + String(decoding: integral, as: UTF8.self)
        if let dot {
            guard let fraction = digits(mantissa[(dot + 1)...]) else { return nil }
            text += "." + String(decoding: fraction, as: UTF8.self)
        }
        if let exponentAt {
            var e = body[(exponentAt + 1)...]
            var exponentSign = ""
            if e.first == UInt8(ascii: "+") || e.first == UInt8(ascii: "-") { exponentSign = String(UnicodeScalar(e.first!)); e = e.dropFirst() }
            guard let exponent = digits(e) else { return nil }
            text += "e" + exponentSign + String(decoding: exponent, as: UTF8.self)
        }
        return Double(text).map { .float($0) }
    }

    /// RFC 3339 date-times as TOML allows them: date, time, local or with an offset.
    static func isDateTime(_ word: String) -> Bool {
        let a = Array(word.utf8)
        func digits(_ r: Range<Int>) -> Int? {
            guard r.upperBound <= a.count, r.allSatisfy({ a[$0] >= 0x30 && a[$0] <= 0x39 }) else { return nil }
            return r.reduce(0) { $0 * 10 + Int(a[$1] - 0x30) }
        }
        func time(_ at: Int) -> Int? {   // HH:MM:SS[.frac]; returns the end
            guard let h = digits(at..<(at + 2)), a.count > at + 2, a[at + 2] == 0x3A, let m = digits((at + 3)..<(at + 5)),
                  a.count > at + 5, a[at + 5] == 0x3A, let s = digits((at + 6)..<(at + 8)), h < 24, m < 60, s <= 60 else { return nil }
            var end = at + 8
            if end < a.count && a[end] == 0x2E {
                end += 1
                let fracStart = end
                while end < a.count && a[end] >= 0x30 && a[end] <= 0x39 { end += 1 }
                if end == fracStart { return nil }
            }
            return end
        }
        if let end = time(0) { return end == a.count }
        guard let y = digits(0..<4), a.count >= 10, a[4] == 0x2D, let mo = digits(5..<7), a[7] == 0x2D, let d = digits(8..<10),
              (1...12).contains(mo), d >= 1 else { return false }
        let days = [31, (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][mo - 1]
        guard d <= days else { return false }
        if a.count == 10 { return true }
        guard a[10] == UInt8(ascii: "T") || a[10] == UInt8(ascii: "t") || a[10] == 0x20, var end = time(11) else { return false }
        if end == a.count { return true }
        if a[end] == UInt8(ascii: "Z") || a[end] == UInt8(ascii: "z") { return end + 1 == a.count }
        guard a[end] == 0x2B || a[end] == 0x2D, let oh = digits((end + 1)..<(end + 3)), a.count > end + 3, a[end + 3] == 0x3A,
              let om = digits((end + 4)..<(end + 6)), oh < 24, om < 60 else { return false }
        end += 6
        return end == a.count
    }

    // MARK: - the tree as values

    static func freeze(_ node: Node) -> TOML.Table {
        var table = TOML.Table()
        table.keys.reserveCapacity(node.order.count)
        table.values.reserveCapacity(node.order.count)
        for key in node.order {
            let value: TOML.Value
            switch node.entries[key]! {
            case .value(let v): value = v
            case .table(let t): value = TOML.Value(kind: .table(freeze(t)), line: t.line)
            case .tables(let list):
                value = TOML.Value(kind: .array(list.nodes.map { TOML.Value(kind: .table(freeze($0)), line: $0.line) }),
                                   line: list.nodes.first?.line ?? 0)
            }
            table.keys.append(key)
            table.values[key] = value
        }
        return table
    }
}

private extension String {
    var trimmingQuotes: String { hasPrefix("'") && hasSuffix("'") && count >= 2 ? String(dropFirst().dropLast()) : self }
}
