import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// A small element tree built from untrusted XML (the hook's stdin, libvirt's files).
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
        let builder = TreeBuilder()
        let parser = XMLParser(data: data)
        parser.shouldProcessNamespaces = true
        parser.shouldResolveExternalEntities = false
        parser.delegate = builder
        guard parser.parse(), let root = builder.root else {
            let detail = parser.parserError.map { "\($0.localizedDescription)" } ?? "no root element"
            throw ParseError("malformed XML at line \(parser.lineNumber): \(detail)")
        }
        return root
    }
}

private final class TreeBuilder: NSObject, XMLParserDelegate {
    var root: XMLNode?
    private var stack: [XMLNode] = []

    func parser(_ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?,
                qualifiedName qName: String?, attributes attributeDict: [String: String] = [:]) {
        let node = XMLNode(name: elementName, namespace: namespaceURI?.isEmpty == false ? namespaceURI : nil,
                           attributes: attributeDict)
        if let parent = stack.last { parent.children.append(node) } else { root = node }
        stack.append(node)
    }

    func parser(_ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?, qualifiedName qName: String?) {
        stack.removeLast()
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        stack.last?.text += string
    }

    func parser(_ parser: XMLParser, resolveExternalEntityName name: String, systemID: String?) -> Data? {
        nil
    }
}
