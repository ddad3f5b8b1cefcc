import CXMLShim
import Foundation

/// A small element tree built from untrusted XML (the hook's stdin, libvirt's files), parsed
/// by libxml2's SAX2 interface through CXMLShim. Foundation's XMLParser was used before; on
/// Linux it accepted some malformed documents (`<a><b></a>` at the end of the input) and
/// dropped CDATA text, and linking it put libxml2 and ICU on every call's start-up path.
/// libxml2 is now loaded on the first parse.
///
/// Safety: documents with a DOCTYPE are refused before parsing. libvirt never writes one,
/// and without one there can be no entity declarations, so no external entity is ever
/// fetched and no billion-laughs expansion can happen. Input size is bounded by the caller.
public final class XMLNode {
    public let name: String
    public let namespace: String?
    public let attributes: [String: String]
    public internal(set) var children: [XMLNode] = []
    public internal(set) var text = ""

    init(name: String, namespace: String?, attributes: [String: String]) {
        self.name = name
        self.namespace = namespace
        self.attributes = attributes
    }

    public func child(_ name: String) -> XMLNode? { children.first { $0.name == name } }
    public func children(_ name: String) -> [XMLNode] { children.filter { $0.name == name } }
    public var trimmedText: String { text.trimmingCharacters(in: .whitespacesAndNewlines) }

    public static let maximumSize = 4 << 20

    public static func parse(_ data: Data) throws(ParseError) -> XMLNode {
        guard data.count <= maximumSize else {
            throw ParseError("XML is \(data.count) bytes; refusing more than \(maximumSize) bytes")
        }
        if data.range(of: Data("<!DOCTYPE".utf8)) != nil || data.range(of: Data("<!ENTITY".utf8)) != nil
            || data.range(of: Data("<!doctype".utf8)) != nil {
            throw ParseError("XML with a DOCTYPE or entity declarations is refused")
        }
        guard !data.isEmpty else { throw ParseError("malformed XML: the document is empty") }
        let builder = TreeBuilder()
        var handler = pf_xml_handler(
            context: Unmanaged.passUnretained(builder).toOpaque(),
            start: { context, name, uri, count, names, prefixes, values, lengths in
                var attributes: [String: String] = [:]
                for i in 0..<Int(count) {
                    guard let name = names?[i], let value = values?[i], let length = lengths?[i] else { continue }
                    let local = String(cString: name)
                    let key = prefixes?[i].map { String(cString: $0) + ":" + local } ?? local
                    attributes[key] = String(decoding: UnsafeRawBufferPointer(start: value, count: Int(length)), as: UTF8.self)
                }
                let uri = uri.map { String(cString: $0) }
                TreeBuilder.from(context).start(name: name.map { String(cString: $0) } ?? "",
                                                namespace: uri?.isEmpty == false ? uri : nil, attributes: attributes)
            },
            end: { context in TreeBuilder.from(context).end() },
            text: { context, bytes, length in
                guard let bytes else { return }
                TreeBuilder.from(context).text(String(decoding: UnsafeRawBufferPointer(start: bytes, count: Int(length)), as: UTF8.self))
            })
        var message = [CChar](repeating: 0, count: 512)
        var line: Int32 = 0
        let status = withExtendedLifetime(builder) {
            data.withUnsafeBytes { raw in
                pf_xml_parse(raw.baseAddress!.assumingMemoryBound(to: CChar.self), Int32(raw.count), &handler,
                             &message, Int32(message.count), &line)
            }
        }
        guard status == 0, let root = builder.root else {
            let detail = status == 0 ? "no root element" : String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw ParseError("malformed XML at line \(line): \(detail)")
        }
        return root
    }
}

/// Builds the tree from the shim's callbacks, which carry it as an unretained context pointer.
private final class TreeBuilder {
    var root: XMLNode?
    private var stack: [XMLNode] = []

    static func from(_ context: UnsafeMutableRawPointer?) -> TreeBuilder {
        Unmanaged<TreeBuilder>.fromOpaque(context!).takeUnretainedValue()
    }

    func start(name: String, namespace: String?, attributes: [String: String]) {
        let node = XMLNode(name: name, namespace: namespace, attributes: attributes)
        if let parent = stack.last { parent.children.append(node) } else { root = node }
        stack.append(node)
    }

    func end() { stack.removeLast() }

    func text(_ string: String) { stack.last?.text += string }
}
