import Foundation
import Testing
import PortFwdCore
@testable import PortFwdSystem

/// The XML readers (domain XML on the hook's stdin, status files, network definitions) are
/// bounded. What libxml2 2.9 does with hostile shapes, measured (bench/RESULTS.md has the
/// figures): it refuses nesting past 256 levels by itself, expands no entity without our
/// handlers, but checks each attribute of an element against all earlier ones and looks each
/// prefix up through every namespace declaration in scope, both quadratic; and it honours a
/// declared EBCDIC or UTF-7, in which no tag is spelled in ASCII. `XMLShape` measures all of
/// that first, in one pass, and refuses with the line and why.
@Suite struct XMLLimitsTests {
    func refusal(_ xml: String) -> String? {
        do { _ = try XMLParser.parse(Array(xml.utf8)); return nil } catch { return error.message }
    }

    @Test func nestingIsBoundedByOurLimitWhateverLibxml2Allows() {
        let limit = XMLShape.maximumDepth
        #expect(refusal(String(repeating: "<a>", count: limit) + String(repeating: "</a>", count: limit)) == nil)
        for n in [limit + 1, 300, 500_000] {
            let text = "<?xml version='1.0'?>\n" + String(repeating: "<a>", count: n) + String(repeating: "</a>", count: n)
            #expect(refusal(text) == "XML refused at line 2: elements nested more than \(limit) levels deep")
        }
        // Self-closing and closed elements do not nest.
        #expect(refusal("<a>" + String(repeating: "<b x='1'/><c></c>", count: 1_000) + "</a>") == nil)
    }

    @Test func attributesAndNamespacesAreBoundedBeforeLibxml2CountsThem() {
        let limit = XMLShape.maximumAttributes
        func element(_ n: Int) -> String { "<a " + (0..<n).map { "a\($0)='x'" }.joined(separator: " ") + "/>" }
        #expect(refusal(element(limit)) == nil)
        #expect(refusal(element(limit + 1)) == "XML refused at line 1: an element with more than \(limit) attributes")
        #expect(refusal(element(40_000)) == "XML refused at line 1: an element with more than \(limit) attributes")
        let declarations = XMLShape.maximumNamespaces
        func namespaces(_ n: Int) -> String {
            "<r>" + (0..<n).map { "<p\($0):b xmlns:p\($0)='urn:\($0)'/>" }.joined() + "</r>"
        }
        #expect(refusal(namespaces(declarations)) == nil)
        #expect(refusal(namespaces(declarations + 1)) == "XML refused at line 1: more than \(declarations) namespace declarations")
    }

    @Test func elementsAreCounted() {
        let limit = XMLShape.maximumElements
        #expect(refusal("<a>" + String(repeating: "<b/>", count: limit - 1) + "</a>") == nil)
        #expect(refusal("<a>" + String(repeating: "<b/>", count: limit) + "</a>") == "XML refused at line 1: more than \(limit) elements")
    }

    /// EBCDIC (IBM500), byte for byte, for printable ASCII.
    static let ebcdic: [UInt8] = [
        0x40, 0x4f, 0x7f, 0x7b, 0x5b, 0x6c, 0x50, 0x7d, 0x4d, 0x5d, 0x5c, 0x4e, 0x6b, 0x60, 0x4b, 0x61,
        0xf0, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0x7a, 0x5e, 0x4c, 0x7e, 0x6e, 0x6f,
        0x7c, 0xc1, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xd1, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6,
        0xd7, 0xd8, 0xd9, 0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0x4a, 0xe0, 0x5a, 0x5f, 0x6d,
        0x79, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x91, 0x92, 0x93, 0x94, 0x95, 0x96,
        0x97, 0x98, 0x99, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xc0, 0xbb, 0xd0, 0xa1]

    /// libxml2 transcodes EBCDIC (declared, or guessed from the first bytes) and parses tags
    /// the scan cannot see in ASCII: 20,000 attributes, quadratic. Refused before it.
    @Test func encodingsOtherThanUTF8AreRefused() throws {
        let attributes = "<a " + (0..<20_000).map { "a\($0)='x'" }.joined(separator: " ") + "/>"
        for declaration in ["<?xml version='1.0' encoding='IBM500'?>", ""] {
            let bytes = (declaration + attributes).utf8.map { Self.ebcdic[Int($0) - 0x20] }
            let error = expectError(PortFwdError.self) { try XMLParser.parse(bytes) }
            #expect(error?.message == "XML refused at line 1: not XML in UTF-8: the document does not start with '<'")
        }
        #expect(refusal("<?xml version='1.0' encoding='UTF-7'?>\(attributes)") == "XML refused at line 1: an encoding other than UTF-8 (UTF-7) is "
            + "refused; libvirt writes UTF-8")
        #expect(refusal("<?xml version='1.0' encoding='IBM500'?><a/>") == "XML refused at line 1: an encoding other than UTF-8 (IBM500) is refused; "
            + "libvirt writes UTF-8")
        #expect(refusal("<?xml version=\"1.0\" encoding = \"utf-8\" ?>\n<a/>") == nil)
        #expect(refusal("\u{FEFF}  <a/>") == nil)
        #expect(refusal("Lo\u{A7}\u{94}") == "XML refused at line 1: not XML in UTF-8: the document does not start with '<'")
    }

    /// What looks like markup inside comments, CDATA, instructions and attribute values is
    /// not counted: real documents are not refused for it.
    @Test func markupInsideTextIsNotCounted() throws {
        let inner = String(repeating: "<x a='1' b='2' xmlns:q='u'>", count: 300)
        let text = "<?xml version='1.0'?><!-- \(inner) --><domain v=\"\(String(repeating: "a=b ", count: 300))\" w='\"&gt;'>"
            + "<![CDATA[\(inner)]]><?pi \(inner)?><name>web1</name><uuid>\(Fixtures.web1UUID)</uuid></domain>"
        let domain = try Domain.parse(Array(text.utf8))
        #expect(domain.name.value == "web1")
    }

    /// Long text, many references, wide documents: read whole, in one pass.
    @Test func longAndWideDocumentsRead() throws {
        let text = String(repeating: "x", count: XMLParser.maximumSize - 100)
        #expect(try XMLParser.parse(Array("<a>\(text)</a>".utf8)).text.utf8.count == text.utf8.count)
        let refs = try XMLParser.parse(Array(("<a>" + String(repeating: "&amp;&#x41;", count: 300_000) + "</a>").utf8))
        #expect(refs.text == String(repeating: "&A", count: 300_000))
        let hosts = (0..<20_000).map { "<host mac='52:54:00:00:\(String(format: "%02x:%02x", $0 >> 8, $0 & 0xff))' "
            + "ip='10.0.\($0 >> 8).\($0 & 0xff)'/>" }.joined()
        let network = try NetworkDefinition.parse(
            Data("<network><name>n</name><forward/><ip address='10.0.0.1' prefix='16'><dhcp>\(hosts)</dhcp></ip></network>".utf8))
        #expect(network.hosts.count == 20_000)
        #expect(XMLParser.maximumSize == 4 << 20)
        #expect(refusal(String(repeating: " ", count: XMLParser.maximumSize + 1)) == "XML is \(XMLParser.maximumSize + 1) bytes; refusing more than "
            + "\(XMLParser.maximumSize) bytes")
    }

    /// libxml2 2.9 goes on after an error from inside the construct that failed, and parses
    /// what follows as markup, tags the scan (which reads a document as a well-formed one
    /// reads) never counted: so the first error ends the parse. Each document hides, after its
    /// error, fifty elements that would each raise an error of their own if libxml2 went on.
    @Test(arguments: [
        "<r><!-- \u{1} HIDDEN --></r>", "<r><a b=\"x HIDDEN\"/></r>", "<r><? HIDDEN ?></r>", "<r><?p \u{1} HIDDEN ?></r>",
        "<r><![CDATA[ \u{1} HIDDEN ]]></r>", "<r><!--\u{FFFF} HIDDEN --></r>", "<r><a b='\u{1}' c='HIDDEN'/></r>", "<r></a HIDDEN</r>",
        "<r>&undefined; HIDDEN</r>", "<r><a b=x HIDDEN/></r>",
    ])
    func aTagHiddenByAnErrorIsNeverParsed(template: String) {
        let hidden = String(repeating: "<c a0='' a0=''/>", count: 50)
        let text = template.replacingOccurrences(of: "HIDDEN", with: hidden)
        var errors: Int32 = 0
        #expect(throws: PortFwdError.self) { try XMLParser.parse(Array(text.utf8), errors: &errors) }
        #expect(errors <= 2, "\(template): libxml2 raised \(errors) errors, so it parsed on after the first")
    }

    /// libxml2's message for bytes that are not UTF-8 runs over two lines; ours is one (found
    /// by the Network fuzz target).
    @Test func aRefusalIsOneLineWhateverLibxml2Says() {
        for bytes in [Array("<a><!-- ".utf8) + [0xFF] + Array(" --></a>".utf8), Array("<a>".utf8) + [0xC3, 0x28] + Array("</a>".utf8)] {
            let error = expectError(PortFwdError.self) { try XMLParser.parse(bytes) }
            #expect(error.map { isOneBoundedLine($0.message) && $0.message.hasPrefix("malformed XML at line 1: ") } == true,
                "\(error?.message ?? "")")
        }
    }

    @Test func entitiesAreNeverExpanded() {
        #expect(refusal("<a>&x;</a>")?.hasPrefix("malformed XML at line 1: Entity 'x' not defined") == true)
        #expect(refusal("<!DOCTYPE a [<!ENTITY x 'y'>]><a>&x;</a>") == "XML refused at line 1: a DOCTYPE declaration is refused (libvirt never "
            + "writes one)")
    }

    /// The property: any document, deep, wide or long, whole or damaged, gives a tree or one
    /// line naming the line; whole documents within the limits always read.
    @Test func anyShapeEndsInATreeOrOneLine() {
        var g = ReaderShapes()
        print("XMLLimitsTests seed \(g.seed) (READERS_SEED=\(g.seed) replays it)")
        for round in 0..<150 {
            let (whole, withinLimits) = Self.document(&g)
            let text = g.chance(3) ? g.damaged(whole) : whole
            do {
                _ = try XMLParser.parse(Array(text.utf8))
            } catch {
                #expect(error.lines.count == 1 && isOneBoundedLine(error.message, maximum: 700),
                    "seed \(g.seed) round \(round): \(error.message.prefix(200))")
                #expect(error.message.hasPrefix("XML refused at line ") || error.message.hasPrefix("malformed XML")
                    || error.message.hasPrefix("XML is "),
                        "seed \(g.seed) round \(round): \(error.message.prefix(200))")
                #expect(!(text == whole && withinLimits), "seed \(g.seed) round \(round): a document within the limits was refused: \(error.message)")
            }
        }
    }

    /// A document and whether it keeps within every limit.
    static func document(_ g: inout ReaderShapes) -> (String, Bool) {
        switch g.below(6) {
        case 0:
            let n = g.count(limit: XMLShape.maximumDepth)
            return (String(repeating: "<a x='1'>", count: n) + String(repeating: "</a>", count: n), n <= XMLShape.maximumDepth)
        case 1:
            let n = g.count(limit: XMLShape.maximumAttributes)
            return ("<a " + (0..<n).map { "a\($0)=\"\(g.pick(["", ">", "'", "&amp;", "&lt;"]))\"" }.joined(separator: " ") + "/>",
                n <= XMLShape.maximumAttributes)
        case 2:
            let n = g.count(limit: XMLShape.maximumNamespaces)
            return ("<r>" + (0..<n).map { "<p:e xmlns:p='urn:\($0)'/>" }.joined() + "</r>", n <= XMLShape.maximumNamespaces)
        case 3:
            return ("<a>" + g.long(["x", "&lt;", "é", "<!-- <b> -->", "<![CDATA[<c>]]>", "\n"]) + "</a>", true)
        case 4:
            let n = g.count(limit: 5_000)
            return ("<a>" + String(repeating: g.pick(["<b/>", "<b></b>", "<?p?>", "<b c='d'>e</b>"]), count: n) + "</a>", true)
        default:
            return ("<a v='" + g.long(["x", "&quot;", ">", "\n"]) + "'/>", true)
        }
    }
}
