import PortFwdCore

/// XML as libvirt writes it, read without libxml2: loading libxml2 (with the ICU and the shared
/// libstdc++ it brings) and parsing one network file through it was a fifth of apply's
/// instructions at one forward. libvirt's files, and the XML its hooks receive, are plain:
/// elements, attributes in quotes, namespaces declared on the metadata, comments, text with
/// the five named entities and character references.
///
/// The reader accepts only that, and gives way on anything else: it returns nil, and the
/// caller hands the document to libxml2, which reads it or says why not. So what it accepts
/// must read exactly as libxml2 reads it, the same tree to the byte (the differential tests
/// and the `XML` fuzz target hold it to that), and anything it is unsure of is not its call:
/// a document type, a processing instruction, CDATA, a carriage return, a tab or newline in an
/// attribute value (which XML normalises), names outside ASCII, the `xml` prefix, a duplicate
/// attribute, an undeclared prefix or entity, a byte that is not XML's UTF-8. None of these is
/// an error here; whether it is one is libxml2's word, with its message.
///
/// Linear in the document's bytes, as `XMLShape` bounds them (nesting, attributes and
/// namespace declarations): a prefix is looked up through the declarations in scope.
enum XMLReader {
    static func read(_ bytes: [UInt8]) -> XMLNode? {
        var reader = Cursor(bytes: bytes)
        return reader.document()
    }

    private struct Cursor {
        let bytes: [UInt8]
        var i = 0
        /// Each prefix's bindings in scope, innermost last; the prefix "" is the default. Looked
        /// up by hash, so a lookup costs the prefix's length, however many are declared.
        var bindings: [[UInt8]: [String]] = [:]
        /// The prefixes declared, in order, so that an element's end takes its own out.
        var declarations: [[UInt8]] = []

        init(bytes: [UInt8]) { self.bytes = bytes }

        var atEnd: Bool { i >= bytes.count }
        func at(_ text: StaticString) -> Bool {
            let count = text.utf8CodeUnitCount
            guard i + count <= bytes.count else { return false }
            return text.withUTF8Buffer { bytes[i..<(i + count)].elementsEqual($0) }
        }

        static func isSpace(_ c: UInt8) -> Bool { c == 0x20 || c == 0x0A || c == 0x09 }
        mutating func spaces() { while !atEnd, Self.isSpace(bytes[i]) { i += 1 } }

        mutating func document() -> XMLNode? {
            if at("<?xml") {
                guard declaration() else { return nil }
            }
            guard misc() else { return nil }
            guard !atEnd, bytes[i] == UInt8(ascii: "<") else { return nil }
            i += 1
            guard let root = element() else { return nil }
            guard misc(), atEnd else { return nil }
            return root
        }

        /// `<?xml version="1.0"?>`, with `encoding="UTF-8"` at most: what libvirt writes, when
        /// it writes one.
        mutating func declaration() -> Bool {
            i += 5
            guard !atEnd, Self.isSpace(bytes[i]) else { return false }
            spaces()
            guard at("version"), let version = pseudoAttribute("version"), version == "1.0" else { return false }
            let spaced = !atEnd && Self.isSpace(bytes[i])
            spaces()
            if spaced, at("encoding") {
                guard let encoding = pseudoAttribute("encoding"), encoding == "UTF-8" || encoding == "utf-8" else { return false }
                spaces()
            }
            guard at("?>") else { return false }
            i += 2
            return true
        }

        mutating func pseudoAttribute(_ name: StaticString) -> String? {
            i += name.utf8CodeUnitCount
            spaces()
            guard !atEnd, bytes[i] == UInt8(ascii: "=") else { return nil }
            i += 1
            spaces()
            guard !atEnd, bytes[i] == 0x22 || bytes[i] == 0x27 else { return nil }
            let quote = bytes[i]
            i += 1
            let start = i
            while !atEnd, bytes[i] != quote {
                guard bytes[i] >= 0x21, bytes[i] < 0x7F else { return nil }
                i += 1
            }
            guard !atEnd else { return nil }
            defer { i += 1 }
            return String(decoding: bytes[start..<i], as: UTF8.self)
        }

        /// Spaces and comments, before or after the root element.
        mutating func misc() -> Bool {
            while !atEnd {
                if Self.isSpace(bytes[i]) {
                    i += 1
                } else if at("<!--") {
                    guard comment() else { return false }
                } else {
                    return true
                }
            }
            return true
        }

        /// From `<!--` to after `-->`; "--" inside, or a comment ending "--->", is libxml2's call.
        mutating func comment() -> Bool {
            i += 4
            while !atEnd {
                if bytes[i] == UInt8(ascii: "-"), i + 1 < bytes.count, bytes[i + 1] == UInt8(ascii: "-") {
                    guard i + 2 < bytes.count, bytes[i + 2] == UInt8(ascii: ">") else { return false }
                    i += 3
                    return true
                }
                guard character() else { return false }
            }
            return false
        }

        /// Steps over one character XML allows, in UTF-8; false, without stepping, on anything
        /// else (a control byte, a carriage return, a byte that is not UTF-8, U+FFFE or U+FFFF).
        mutating func character() -> Bool {
            let c = bytes[i]
            if c < 0x80 {
                guard c >= 0x20 || c == 0x0A || c == 0x09 else { return false }
                i += 1
                return true
            }
            let length: Int
            let first: UInt32
            switch c {
            case 0xC2...0xDF: length = 2; first = UInt32(c & 0x1F)
            case 0xE0...0xEF: length = 3; first = UInt32(c & 0x0F)
            case 0xF0...0xF4: length = 4; first = UInt32(c & 0x07)
            default: return false
            }
            guard i + length <= bytes.count else { return false }
            var scalar = first
            for k in 1..<length {
                let next = bytes[i + k]
                guard next & 0xC0 == 0x80 else { return false }
                scalar = scalar << 6 | UInt32(next & 0x3F)
            }
            // Overlong forms, surrogates, past U+10FFFF, and XML's two non-characters.
            let least: UInt32 = length == 3 ? 0x800 : length == 4 ? 0x10000 : 0x80
            guard scalar >= least, scalar <= 0x10FFFF, !(0xD800...0xDFFF).contains(scalar), scalar != 0xFFFE, scalar != 0xFFFF
            else { return false }
            i += length
            return true
        }

        /// An ASCII name: a letter or '_', then letters, digits, '.', '-' and '_'; at most
        /// `maximumName` bytes. libxml2 refuses a name past 50,000 bytes; libvirt's are words.
        mutating func name() -> ArraySlice<UInt8>? {
            let start = i
            guard !atEnd, Self.startsName(bytes[i]) else { return nil }
            i += 1
            while !atEnd, Self.continuesName(bytes[i]) { i += 1 }
            guard i - start <= Self.maximumName else { return nil }
            return bytes[start..<i]
        }

        static let maximumName = 1_000

        static func startsName(_ c: UInt8) -> Bool {
            (c >= 0x61 && c <= 0x7A) || (c >= 0x41 && c <= 0x5A) || c == UInt8(ascii: "_")
        }
        static func continuesName(_ c: UInt8) -> Bool {
            startsName(c) || (c >= 0x30 && c <= 0x39) || c == UInt8(ascii: ".") || c == UInt8(ascii: "-")
        }

        /// A qualified name: `local`, or `prefix:local`.
        mutating func qualifiedName() -> (prefix: ArraySlice<UInt8>?, local: ArraySlice<UInt8>)? {
            guard let first = name() else { return nil }
            guard !atEnd, bytes[i] == UInt8(ascii: ":") else { return (nil, first) }
            i += 1
            guard let local = name() else { return nil }
            return (first, local)
        }

        static func isReserved(_ prefix: ArraySlice<UInt8>) -> Bool {
            prefix.count >= 3 && prefix.prefix(3).map { $0 | 0x20 }.elementsEqual("xml".utf8)
        }

        func uri(of prefix: ArraySlice<UInt8>) -> String? { bindings[Array(prefix)]?.last }

        /// Takes out the declarations made after the first `count`.
        mutating func undeclare(downTo count: Int) {
            while declarations.count > count {
                let prefix = declarations.removeLast()
                bindings[prefix]?.removeLast()
            }
        }

        /// After the root element's `<`, to after its end tag; children are read through an
        /// explicit stack, so nesting costs no native stack.
        mutating func element() -> XMLNode? {
            // Each open element, its tag as written, and how many declarations were in scope before it.
            var open: [(node: XMLNode, tag: ArraySlice<UInt8>, outer: Int)] = []
            while true {
                let before = declarations.count
                guard let (node, tag, closed) = startTag() else { return nil }
                open.last?.node.children.append(node)
                if !closed {
                    open.append((node, tag, before))
                } else if open.isEmpty {
                    return node
                }
                // Content, up to the next start tag or through the root's end tag.
                while let parent = open.last {
                    guard text(into: parent.node) else { return nil }
                    if at("<!--") {
                        guard comment() else { return nil }
                    } else if at("</") {
                        i += 2
                        let nameStart = i
                        guard qualifiedName() != nil, bytes[nameStart..<i].elementsEqual(parent.tag) else { return nil }
                        spaces()
                        guard !atEnd, bytes[i] == UInt8(ascii: ">") else { return nil }
                        i += 1
                        open.removeLast()
                        undeclare(downTo: parent.outer)
                        if open.isEmpty { return parent.node }
                    } else if !atEnd, bytes[i] == UInt8(ascii: "<"), !at("<!"), !at("<?") {
                        i += 1
                        break
                    } else {
                        return nil
                    }
                }
            }
        }

        /// After `<`, to after `>` or `/>`: the element, its tag as written, and whether it
        /// closed itself. Its namespace declarations join `bindings` until its end.
        mutating func startTag() -> (node: XMLNode, tag: ArraySlice<UInt8>, closed: Bool)? {
            let nameStart = i
            guard let (prefix, local) = qualifiedName() else { return nil }
            let tag = bytes[nameStart..<i]
            var attributes: [(prefix: ArraySlice<UInt8>?, local: ArraySlice<UInt8>, value: String)] = []
            var declared: [(prefix: [UInt8], uri: String)] = []
            var locals: Set<[UInt8]> = [], prefixes: Set<[UInt8]> = []
            var closed = false
            while true {
                let spaced = !atEnd && Self.isSpace(bytes[i])
                spaces()
                guard !atEnd else { return nil }
                if bytes[i] == UInt8(ascii: ">") { i += 1; break }
                if at("/>") { i += 2; closed = true; break }
                guard spaced, let (attributePrefix, attributeLocal) = qualifiedName() else { return nil }
                spaces()
                guard !atEnd, bytes[i] == UInt8(ascii: "=") else { return nil }
                i += 1
                spaces()
                guard let value = attributeValue() else { return nil }
                if attributePrefix == nil, attributeLocal.elementsEqual("xmlns".utf8) {
                    guard prefixes.insert([]).inserted, value.isEmpty || Self.isPlainURI(value) else { return nil }
                    declared.append(([], value))
                } else if let attributePrefix, attributePrefix.elementsEqual("xmlns".utf8) {
                    guard Self.isPlainURI(value), !Self.isReserved(attributeLocal),
                          prefixes.insert(Array(attributeLocal)).inserted else { return nil }
                    declared.append((Array(attributeLocal), value))
                } else {
                    if let attributePrefix, Self.isReserved(attributePrefix) || attributeLocal.elementsEqual("xmlns".utf8) { return nil }
                    // Two attributes of one local name are libxml2's to judge, whatever their prefixes.
                    guard locals.insert(Array(attributeLocal)).inserted else { return nil }
                    attributes.append((attributePrefix, attributeLocal, value))
                }
            }
            for (prefix, uri) in declared {
                bindings[prefix, default: []].append(uri)
                declarations.append(prefix)
            }
            let namespace: String?
            if let prefix {
                guard !Self.isReserved(prefix), let uri = uri(of: prefix) else { return nil }
                namespace = uri
            } else {
                namespace = uri(of: [])
            }
            var dictionary: [String: String] = [:]
            dictionary.reserveCapacity(attributes.count)
            for attribute in attributes {
                if let attributePrefix = attribute.prefix {
                    guard uri(of: attributePrefix) != nil else { return nil }
                    dictionary[String(decoding: attributePrefix, as: UTF8.self) + ":" + String(decoding: attribute.local, as: UTF8.self)] =
                        attribute.value
                } else {
                    dictionary[String(decoding: attribute.local, as: UTF8.self)] = attribute.value
                }
            }
            let node = XMLNode(name: String(decoding: local, as: UTF8.self),
                               namespace: namespace?.isEmpty == false ? namespace : nil, attributes: dictionary)
            if closed { undeclare(downTo: declarations.count - declared.count) }
            return (node, tag, closed)
        }

        /// A namespace name libxml2 takes without a word: `urn:` and a name, or `http://` or
        /// `https://`, a host and a path, in letters, digits and `.-_~` (with `:` in a URN).
        /// libxml2 checks a namespace's URI and refuses one it cannot parse, so anything else
        /// is its call; the W3C's own namespaces, which only the `xml` prefix may name, too.
        static func isPlainURI(_ uri: String) -> Bool {
            func plain(_ c: UInt8) -> Bool {
                (c >= 0x61 && c <= 0x7A) || (c >= 0x41 && c <= 0x5A) || (c >= 0x30 && c <= 0x39) || c == 0x2E || c == 0x2D || c == 0x5F || c == 0x7E
            }
            let bytes = Array(uri.utf8)
            if bytes.starts(with: "urn:".utf8) {
                let name = bytes.dropFirst(4)
                return name.first.map(plain) == true && name.allSatisfy { plain($0) || $0 == UInt8(ascii: ":") }
            }
            let scheme = bytes.starts(with: "http://".utf8) ? 7 : bytes.starts(with: "https://".utf8) ? 8 : 0
            guard scheme > 0, !bytes.starts(with: "http://www.w3.org/".utf8) else { return false }
            let rest = bytes.dropFirst(scheme)
            let host = rest.prefix { $0 != UInt8(ascii: "/") }
            return !host.isEmpty && host.allSatisfy(plain) && rest.dropFirst(host.count).allSatisfy { plain($0) || $0 == UInt8(ascii: "/") }
        }

        /// A quoted value, its references replaced; nil on '<', a tab, a newline, an '&' or a
        /// reference this reader leaves to libxml2.
        mutating func attributeValue() -> String? {
            guard !atEnd, bytes[i] == 0x22 || bytes[i] == 0x27 else { return nil }
            let quote = bytes[i]
            i += 1
            var value: [UInt8] = []
            while !atEnd, bytes[i] != quote {
                switch bytes[i] {
                case UInt8(ascii: "<"), 0x09, 0x0A: return nil
                case UInt8(ascii: "&"):
                    // libxml2's SAX2 hands an '&' in a value on escaped, as "&#38;" (for its
                    // tree builder to undo): its call, not ours.
                    guard reference(into: &value), value.last != UInt8(ascii: "&") else { return nil }
                default:
                    let start = i
                    guard character() else { return nil }
                    value.append(contentsOf: bytes[start..<i])
                }
            }
            guard !atEnd else { return nil }
            i += 1
            return String(decoding: value, as: UTF8.self)
        }

        /// Character data up to the next '<', appended to the element's text; nil on "]]>".
        mutating func text(into node: XMLNode) -> Bool {
            var value: [UInt8] = []
            while !atEnd, bytes[i] != UInt8(ascii: "<") {
                if bytes[i] == UInt8(ascii: "&") {
                    guard reference(into: &value) else { return false }
                    continue
                }
                if bytes[i] == UInt8(ascii: "]"), at("]]>") { return false }
                let start = i
                guard character() else { return false }
                value.append(contentsOf: bytes[start..<i])
            }
            if !value.isEmpty { node.text += String(decoding: value, as: UTF8.self) }
            return true
        }

        /// `&lt;`, `&gt;`, `&amp;`, `&apos;`, `&quot;`, `&#N;` or `&#xH;` naming a character XML
        /// allows; anything else is libxml2's.
        mutating func reference(into value: inout [UInt8]) -> Bool {
            let named: UInt8? = at("&lt;") ? UInt8(ascii: "<") : at("&gt;") ? UInt8(ascii: ">") : at("&amp;") ? UInt8(ascii: "&")
                : at("&apos;") ? UInt8(ascii: "'") : at("&quot;") ? UInt8(ascii: "\"") : nil
            if let named {
                value.append(named)
                while bytes[i] != UInt8(ascii: ";") { i += 1 }
                i += 1
                return true
            }
            guard at("&#") else { return false }
            i += 2
            let hex = !atEnd && bytes[i] == UInt8(ascii: "x")
            if hex { i += 1 }
            var scalar: UInt32 = 0
            var digits = 0
            while !atEnd, bytes[i] != UInt8(ascii: ";") {
                let c = bytes[i]
                let digit: UInt32
                switch c {
                case 0x30...0x39: digit = UInt32(c - 0x30)
                case 0x61...0x66 where hex: digit = UInt32(c - 0x61 + 10)
                case 0x41...0x46 where hex: digit = UInt32(c - 0x41 + 10)
                default: return false
                }
                digits += 1
                guard digits <= 7 else { return false }
                scalar = scalar * (hex ? 16 : 10) + digit
                i += 1
            }
            guard !atEnd, digits > 0 else { return false }
            i += 1
            guard scalar == 0x09 || scalar == 0x0A || scalar >= 0x20, scalar != 0xFFFE, scalar != 0xFFFF,
                  let unicode = Unicode.Scalar(scalar) else { return false }
            value.append(contentsOf: UTF8.encode(unicode)!)
            return true
        }
    }
}
