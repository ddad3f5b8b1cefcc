import Foundation
import Testing
import PortFwdCore
import TestSupport
@testable import PortFwdSystem

/// `XMLReader` reads plain documents without libxml2 and gives way on everything else. The
/// property that makes that safe: whatever it reads, libxml2 reads too, into the same tree.
/// Checked on random documents built from libvirt's shapes and from every trap this reader
/// leaves to libxml2, on every input of the Domain and Network fuzz corpora, and by the `XML`
/// fuzz target.
@Suite struct XMLReaderTests {
    /// Nil when the two agree (or the reader gave way); otherwise what differs.
    static func disagreement(_ bytes: [UInt8]) -> String? {
        guard let read = XMLParser.readWithoutLibxml2(bytes) else { return nil }
        do {
            let parsed = try XMLParser.parseThroughLibxml2(bytes)
            return parsed == read ? nil : "trees differ: libxml2 \(Self.dump(parsed)) | reader \(Self.dump(read))"
        } catch {
            return "the reader read what libxml2 refuses: \(error.message)"
        }
    }

    static func dump(_ node: XMLNode) -> String {
        let attributes = node.attributes.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value.debugDescription)" }
        return "<\(node.name){\(node.namespace ?? "")} \(attributes.joined(separator: " ")) text=\(node.text.debugDescription)>"
            + node.children.map(dump).joined() + "</>"
    }

    @Test func libvirtsOwnDocumentsReadWithoutLibxml2() throws {
        let documents: [(String, [UInt8])] = [
            ("the default network", Array(Fixtures.defaultNetwork.utf8)),
            ("a domain", [UInt8](Fixtures.domain())),
            ("a domain with metadata set by virsh", [UInt8](Fixtures.domain(metadata: Fixtures.virshMetadata))),
            ("a domain with metadata", [UInt8](Fixtures.domain(metadata: Fixtures.metadata("<forward spec='8080:80'/>")))),
            ("a network file as libvirt saves it", Array("""
                <!--
                WARNING: THIS IS AN AUTO-GENERATED FILE. CHANGES TO IT ARE LIKELY TO BE
                OVERWRITTEN AND LOST. Changes to this xml configuration should be made using:
                  virsh net-edit default
                or other application using the libvirt API.
                -->

                <network>
                  <name>default</name>
                  <uuid>8d3e3bfb-2b0b-4b4e-9c55-7a6d2c8a3b7e</uuid>
                  <forward mode='nat'/>
                  <bridge name='virbr0' stp='on' delay='0'/>
                  <mac address='52:54:00:12:34:56'/>
                  <ip address='192.168.122.1' netmask='255.255.255.0'>
                    <dhcp>
                      <range start='192.168.122.2' end='192.168.122.254'/>
                    </dhcp>
                  </ip>
                </network>

                """.utf8)),
            ("a status file", Array("""
                <?xml version="1.0" encoding="UTF-8"?>
                <domstatus state='running' reason='booted' pid='4242'>
                  <monitor path='/var/lib/libvirt/qemu/domain-1-web1/monitor.sock' type='unix'/>
                  <vcpus>
                  </vcpus>
                  <qemuCaps>
                    <flag name='kvm'/>
                  </qemuCaps>
                \(String(decoding: Fixtures.domain(), as: UTF8.self))
                </domstatus>

                """.utf8)),
        ]
        for (what, bytes) in documents {
            let read = XMLParser.readWithoutLibxml2(bytes)
            #expect(read != nil, "\(what) gave way to libxml2")
            let parsed = try XMLParser.parseThroughLibxml2(bytes)
            #expect(read == parsed, "\(what): \(read.map(Self.dump) ?? "nil") against \(Self.dump(parsed))")
        }
    }

    /// What the reader gives way on, each one a document libxml2 reads differently from a
    /// naive reader, or refuses.
    @Test(arguments: [
        "<a>\r\n</a>", "<a b='x\ty'/>", "<a b='x\ny'/>", "<![CDATA[x]]>", "<a><![CDATA[<b/>]]></a>", "<a><?p x?></a>",
        "<?xml version='1.1'?><a/>", "<?xml version='1.0' standalone='yes'?><a/>", "\u{FEFF}<a/>", "<a>&nbsp;</a>",
        "<a>&#0;</a>", "<a>&#xD800;</a>", "<a>&#1;</a>", "<a>]]></a>", "<a><!-- x--y --></a>", "<a><!-- x ---></a>",
        "<p:a/>", "<a p:b='1'/>", "<a b='1' b='2'/>", "<a xmlns:p='u' xmlns:q='u' p:b='1' q:b='2'/>", "<a xml:lang='en'/>",
        "<a xmlns:p=''/>", "<é/>", "<a:b:c xmlns:a='u'/>", "<a></b>", "<a>x</a>y", "<a/><b/>", "x<a/>", "<a b=x/>",
        "<a\u{1}/>", "<a>\u{FFFE}</a>", "<a>\u{7}</a>", "<xmlns:a xmlns:xmlns='u'/>", "<a xmlns:xml='http://www.w3.org/XML/1998/namespace'/>",
        "<!DOCTYPE a><a/>", "<a b='&#60;'c='d'/>", "<a>&#xFFFE;</a>", "<a>&#99999999;</a>", "<a>&#;</a>", "<a>&#x;</a>",
        "<a b='&amp;'/>", "<a b='&#38;'/>", "<a b='&#x26;'/>", "<a xmlns:p='http://a:b'/>", "<a xmlns='foo'/>", "<a xmlns:p='urn:x y'/>",
        "<a xmlns:p='http://www.w3.org/2000/xmlns/'/>",
    ] as [String])
    func givesWayOn(_ text: String) {
        #expect(XMLParser.readWithoutLibxml2(Array(text.utf8)) == nil, "\(text.debugDescription) was read without libxml2")
    }

    /// libxml2 refuses a name past 50,000 bytes (found by an attack on the reader); the reader
    /// gives way on one past 1,000, wherever the name stands.
    @Test func givesWayOnLongNames() {
        let long = String(repeating: "a", count: 1_001), fits = String(repeating: "a", count: 1_000)
        for text in ["<\(long)/>", "<\(long):a xmlns:\(long)='urn:x'/>", "<p:\(long) xmlns:p='urn:x'/>", "<a xmlns:\(long)='urn:x'/>",
                     "<a \(long)='1'/>", "<a><\(long)/></a>"] {
            #expect(XMLParser.readWithoutLibxml2(Array(text.utf8)) == nil, "a name of \(long.utf8.count) bytes was read without libxml2")
        }
        #expect(XMLParser.readWithoutLibxml2(Array("<\(fits) \(fits)='1'/>".utf8)) != nil)
    }

    /// Trees compare byte for byte: text that is only canonically equivalent differs.
    @Test func treesCompareByBytes() throws {
        let composed = try XMLParser.parseThroughLibxml2(Array("<a b='\u{E9}'>\u{E9}</a>".utf8))
        let decomposed = try XMLParser.parseThroughLibxml2(Array("<a b='e\u{301}'>\u{E9}</a>".utf8))
        let again = try XMLParser.parseThroughLibxml2(Array("<a b='\u{E9}'>\u{E9}</a>".utf8))
        #expect(composed != decomposed)
        #expect(composed == again)
    }

    /// Bytes that are not XML's UTF-8: overlong forms, surrogates, past U+10FFFF, cut short.
    @Test func givesWayOnBytesThatAreNotUTF8() {
        for bad: [UInt8] in [[0xC0, 0x80], [0xE0, 0x80, 0x80], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xFF], [0xC3], [0xEF, 0xBF, 0xBF]] {
            let bytes = Array("<a b='".utf8) + bad + Array("'>".utf8) + bad + Array("</a>".utf8)
            #expect(XMLParser.readWithoutLibxml2(bytes) == nil, "\(bad) was read without libxml2")
        }
    }

    /// The property, on random documents: the reader reads a good share, gives way on a good
    /// share, and never reads a tree libxml2 would not give.
    @Test func whatTheReaderReadsLibxml2ReadsTheSame() {
        var g = ReaderShapes()
        print("XMLReaderTests seed \(g.seed) (READERS_SEED=\(g.seed) replays it)")
        var read = 0, gaveWay = 0
        for round in 0..<3_000 {
            var bytes = Array(Self.document(&g).utf8)
            if g.chance(4) { bytes = Self.damaged(bytes, &g) }
            if let disagreement = Self.disagreement(bytes) {
                Issue.record("seed \(g.seed) round \(round): \(String(decoding: bytes, as: UTF8.self).debugDescription): \(disagreement)")
            }
            if XMLParser.readWithoutLibxml2(bytes) == nil { gaveWay += 1 } else { read += 1 }
        }
        print("XMLReaderTests: read \(read) documents without libxml2, gave way on \(gaveWay)")
        #expect(read > 300 && gaveWay > 300, "read \(read), gave way on \(gaveWay): the documents do not test both sides")
    }

    /// Every input of the fuzz corpora for domains and networks: libvirt's documents, and what
    /// libFuzzer found reaching new code in libxml2's path.
    @Test func theFuzzCorporaReadTheSame() throws {
        var inputs = 0, read = 0
        for corpus in ["Domain", "Network"] {
            let directory = "\(Paths.root)/Fuzz/Corpus/\(corpus)"
            for name in try FileManager.default.contentsOfDirectory(atPath: directory) {
                let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: "\(directory)/\(name)")))
                inputs += 1
                if XMLParser.readWithoutLibxml2(bytes) != nil { read += 1 }
                if let disagreement = Self.disagreement(bytes) { Issue.record("\(corpus)/\(name): \(disagreement)") }
            }
        }
        print("XMLReaderTests: \(read) of \(inputs) corpus inputs read without libxml2")
        #expect(inputs > 100 && read > 20, "\(inputs) corpus inputs, \(read) read without libxml2")
    }

    /// Each pick is plain (what libvirt writes) or, one time in `odds` (half the documents have
    /// none), a trap: something this reader gives way on, or something close to it that it must
    /// read as libxml2 does.
    static let plainNames = ["a", "domain", "name", "p:forward", "q:b", "x-y.z", "_u", "B9", "xmlfoo"]
    static let trapNames = ["é", "a:b:c", "r:a", "xml:a", "xmlns:a", "a.", "-a", "a\u{B7}"]
    static let plainAttributes = ["name", "spec", "p:attr", "q:attr", "xmlns", "xmlns:p", "xmlns:q", "attr", "x-y.z"]
    static let trapAttributes = ["xml:lang", "xmlns:xml", "xmlns:xmlns", "r:attr", "p:xmlns", "xmlns:xmlfoo", "attr", "xmlns:p", "é"]
    static let plainValues = ["", "x", "urn:x", "urn:y", "&lt;&gt;&quot;&apos;", "&#65;", "&#x1F600;", "é", ">", "a b",
                              "http://libvirt.org/schemas/domain/qemu/1.0", "https://h.example/p/q-1.0", "urn:libvirt-portfwd:1",
                              "&#x10FFFF;", "&#9;", "&#10;", "&#13;", "52:54:00:00:00:10", "192.168.122.1"]
    static let trapValues = ["a&amp;b", "&#38;", "&#0;", "\t", "\n", "\r", "http://www.w3.org/XML/1998/namespace", "&undefined;", "'", "\"",
                             "&#x110000;",
                             "&#65", "]]>", "http://a:b", "urn:", "urn:x y", "foo", "http://", "http://h/%41", "urn::x", "<", "&", "&#xFFFE;",
                             "http://www.w3.org/2000/xmlns/", "HTTP://h/p", "urn:x#y"]
    static let plainTexts = ["", " ", "\n  ", "text", "&amp;", "&#13;", "]]", "]", "é", "\u{7F}", "\u{85}", "<!-- c -->", "<!---->",
                             "&lt;b&gt;", "\t", ">", "&#x20;", "&#32;", "&quot;", "\u{1F600}", "&#xD;"]
    static let trapTexts = ["]]>", "\r\n", "\u{FFFE}", "&#1;", "<!-- a--b -->", "<!--->", "<![CDATA[x]]>", "<?pi?>", "&", "&nbsp;",
                            "<!DOCTYPE a>", "\u{1}"]
    static let plainPrologs = ["", "<?xml version='1.0'?>\n", "<?xml version=\"1.0\" encoding=\"UTF-8\"?>",
                               "<?xml version='1.0' encoding='utf-8' ?>", "<!-- c -->\n", "<!--\nWARNING: THIS IS AN AUTO-GENERATED FILE. -->\n",
                               "  \n", "<?xml  version = '1.0'  ?>"]
    static let trapPrologs = ["<?xml version='1.1'?>", "<?xml version='1.0' standalone='yes'?>", "\u{FEFF}", "<?pi x?>",
                              "<?xml version='1.0'encoding='UTF-8'?>", "<?xml version='1.0' encoding='Utf-8'?>", "text", "<?xml?>"]
    static func pick(_ g: inout ReaderShapes, _ plain: [String], _ traps: [String], _ odds: Int) -> String {
        odds > 0 && g.chance(odds) ? g.pick(traps) : g.pick(plain)
    }

    static func document(_ g: inout ReaderShapes) -> String {
        let odds = g.pick([0, 8])
        return pick(&g, plainPrologs, trapPrologs, odds) + element(&g, depth: 0, odds: odds)
            + pick(&g, ["", "\n", "<!-- after -->"], [" x", "<b/>", "<?pi?>"], odds)
    }

    static func element(_ g: inout ReaderShapes, depth: Int, odds: Int) -> String {
        let name = pick(&g, plainNames, trapNames, odds)
        var tag = "<" + name + (depth == 0 && g.chance(2) ? " xmlns:p='urn:p' xmlns:q=\"http://q.example/ns\"" : "")
        for _ in 0..<g.below(4) {
            let quote = g.pick(["'", "\""])
            let value = pick(&g, plainValues, trapValues, odds)
            tag += pick(&g, [" ", "  ", "\n", "\t"], ["", "\r"], odds) + pick(&g, plainAttributes, trapAttributes, odds) + g.pick(["=", " = ", "="])
                + quote + value.replacingOccurrences(of: quote, with: g.chance(2) ? "" : quote) + quote
        }
        tag += g.pick(["", " ", "\n"])
        if depth > 3 || g.chance(4) { return tag + "/>" }
        var content = ""
        for _ in 0..<g.below(5) {
            content += g.chance(2) ? pick(&g, plainTexts, trapTexts, odds) : element(&g, depth: depth + 1, odds: odds)
        }
        let end = odds > 0 && g.chance(odds * 2) ? g.pick(plainNames) : name
        return tag + ">" + content + "</" + end + g.pick(["", "", " ", "\n"]) + ">"
    }

    /// Bytes changed, dropped or cut: some into UTF-8 that is not.
    static func damaged(_ bytes: [UInt8], _ g: inout ReaderShapes) -> [UInt8] {
        guard !bytes.isEmpty else { return bytes }
        var bytes = bytes
        switch g.below(3) {
        case 0: return Array(bytes.prefix(g.below(bytes.count)))
        case 1: bytes.remove(at: g.below(bytes.count))
        default:
            bytes.insert(contentsOf: g.pick([[0xFF], [0xC0, 0x80], [0xED, 0xA0, 0x80], [0xC3], [0x3C], [0x26], [0x22], [0x27], [0x0D]] as [[UInt8]]),
                         at: g.below(bytes.count))
        }
        return bytes
    }
}
