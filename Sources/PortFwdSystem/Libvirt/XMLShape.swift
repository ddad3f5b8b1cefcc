/// The shape of an XML document, measured in one linear pass before libxml2 sees it: how
/// deep its elements nest, how many there are, how many attributes one element has, and how
/// many namespaces it declares. libxml2 2.9 checks each new attribute of an element against all the earlier ones,
/// and looks each prefix up through every declaration in scope, so forty thousand attributes,
/// or as many namespace declarations, in a 4 MiB document cost it seconds (quadratic);
/// nesting it refuses past 256 levels, a limit its versions set differently. These limits are
/// ours, and far above what libvirt writes.
///
/// Not a parser: it only finds tags, skipping comments, CDATA sections, processing
/// instructions and quoted attribute values, and counts. A document it lets through may still
/// be malformed, and libxml2 says so; one it refuses is refused with where and why. Where
/// libxml2 goes on parsing after an error, the scan must find every tag it will parse: it
/// never skips over a '<' except inside a comment, a CDATA section or an instruction, which
/// end for libxml2 exactly where they end here.
struct XMLShape {
    static let maximumDepth = 128
    static let maximumAttributes = 128
    static let maximumNamespaces = 256
    /// Elements in one document: a domain has hundreds, a network with a static host for every
    /// address of a /16 some 65,000, metadata asking for 100,000 forwards (refused by the
    /// metadata caps, while the domain's config forwards apply) as many. Each costs a node in
    /// the tree, and the service reads every running domain's status file at each check.
    static let maximumElements = 250_000

    struct Refusal: Error {
        let line: Int
        let reason: String
    }

    /// Nil when the document keeps within the limits.
    static func refusal(_ bytes: [UInt8]) -> Refusal? {
        var shape = XMLShape(bytes: bytes)
        do { try shape.scan() } catch { return error }
        return nil
    }

    let bytes: [UInt8]
    var i = 0
    var line = 1
    var depth = 0
    var namespaces = 0
    var elements = 0

    init(bytes: [UInt8]) { self.bytes = bytes }

    func fail(_ reason: String) -> Refusal { Refusal(line: line, reason: reason) }

    mutating func step() {
        if bytes[i] == 0x0A { line += 1 }
        i += 1
    }

    /// Steps past the first `end` at or after `i`; to the end of the document if there is none.
    mutating func skip(past end: [UInt8]) {
        while i < bytes.count {
            if bytes[i] == end[0] && bytes[i...].starts(with: end) { i += end.count; return }
            step()
        }
    }

    func at(_ text: String) -> Bool { bytes[i...].starts(with: text.utf8) }

    mutating func scan() throws(Refusal) {
        try prolog()
        while i < bytes.count {
            guard bytes[i] == UInt8(ascii: "<") else { step(); continue }
            if at("<!--") {
                i += 4
                skip(past: Array("-->".utf8))
            } else if at("<![CDATA[") {
                i += 9
                skip(past: Array("]]>".utf8))
            } else if at("<!") {
                // A DOCTYPE (libvirt never writes one), or not XML: refused either way, before
                // an internal subset is read.
                throw fail("a DOCTYPE declaration is refused (libvirt never writes one)")
            } else if at("<?") {
                i += 2
                skip(past: Array("?>".utf8))
            } else if at("</") {
                // To its '>', or to a '<' that begins markup libxml2 goes on to parse after the
                // error (`</a <b ...>`): never past a tag.
                i += 2
                while i < bytes.count, bytes[i] != UInt8(ascii: ">"), bytes[i] != UInt8(ascii: "<") { step() }
                if i < bytes.count, bytes[i] == UInt8(ascii: ">") { i += 1 }
                depth -= 1
            } else {
                i += 1
                try startTag()
            }
        }
    }

    /// The document must be what the scan reads: UTF-8. libxml2 honours a declared encoding
    /// (EBCDIC, UTF-7) or guesses one from the first bytes, and in those no tag is spelled
    /// in ASCII bytes: this scan would count nothing while libxml2 parsed forty thousand
    /// attributes. libvirt writes UTF-8 and declares nothing else.
    mutating func prolog() throws(Refusal) {
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { i = 3 }
        while i < bytes.count, Self.isSpace(bytes[i]) { step() }
        guard i < bytes.count, bytes[i] == UInt8(ascii: "<") else { throw fail("not XML in UTF-8: the document does not start with '<'") }
        guard at("<?xml"), i + 5 < bytes.count, Self.isSpace(bytes[i + 5]) else { return }
        let start = i
        skip(past: Array("?>".utf8))
        let declaration = bytes[start..<i]
        guard let at = declaration.firstRange(of: "encoding".utf8) else { return }
        var j = at.upperBound
        while j < declaration.endIndex, Self.isSpace(declaration[j]) || declaration[j] == UInt8(ascii: "=") { j += 1 }
        guard j < declaration.endIndex, declaration[j] == 0x22 || declaration[j] == 0x27 else { return }
        let quote = declaration[j]
        let value = declaration[(j + 1)...].prefix { $0 != quote }
        guard value.count == 5, value.map({ $0 | 0x20 }).elementsEqual("utf-8".utf8) else {
            throw fail("an encoding other than UTF-8 (\(String(decoding: value.prefix(40), as: UTF8.self))) is refused; libvirt writes UTF-8")
        }
    }

    static func isSpace(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D }
    static func endsName(_ c: UInt8) -> Bool {
        isSpace(c) || c == UInt8(ascii: "=") || c == UInt8(ascii: ">") || c == UInt8(ascii: "/") || c == 0x22 || c == 0x27
    }

    /// From after `<` to after its `>`: the element's name, then its attributes.
    mutating func startTag() throws(Refusal) {
        elements += 1
        guard elements <= Self.maximumElements else { throw fail("more than \(Self.maximumElements) elements") }
        while i < bytes.count, !Self.isSpace(bytes[i]), bytes[i] != UInt8(ascii: ">"), bytes[i] != UInt8(ascii: "/") { i += 1 }
        var attributes = 0
        while i < bytes.count {
            let c = bytes[i]
            if Self.isSpace(c) || c == UInt8(ascii: "=") {
                step()
            } else if c == UInt8(ascii: ">") {
                i += 1
                depth += 1
                guard depth <= Self.maximumDepth else { throw fail("elements nested more than \(Self.maximumDepth) levels deep") }
                return
            } else if c == UInt8(ascii: "/") && i + 1 < bytes.count && bytes[i + 1] == UInt8(ascii: ">") {
                i += 2
                return
            } else if c == UInt8(ascii: "\"") || c == UInt8(ascii: "'") {
                // libxml2 ends a value at a '<' with an error, then parses on from there as
                // markup (`b="x<c a0='' ...`): a '<' is refused here, so no tag hides in a value.
                i += 1
                while i < bytes.count, bytes[i] != c {
                    guard bytes[i] != UInt8(ascii: "<") else { throw fail("a '<' in an attribute value") }
                    step()
                }
                i += 1
            } else {
                // An attribute's name.
                let start = i
                while i < bytes.count, !Self.endsName(bytes[i]) { i += 1 }
                if i == start { i += 1; continue }
                attributes += 1
                guard attributes <= Self.maximumAttributes else { throw fail("an element with more than \(Self.maximumAttributes) attributes") }
                let name = bytes[start..<i]
                if name.elementsEqual("xmlns".utf8) || name.starts(with: "xmlns:".utf8) {
                    namespaces += 1
                    guard namespaces <= Self.maximumNamespaces else { throw fail("more than \(Self.maximumNamespaces) namespace declarations") }
                }
            }
        }
    }
}
