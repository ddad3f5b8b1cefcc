/// A small element tree: what the XML parser (PortFwdSystem's `XMLParser`, libxml2 underneath)
/// builds from a domain or network document, and what `Domain` and `NetworkDefinition` read.
public final class XMLNode: @unchecked Sendable {
    public let name: String
    public let namespace: String?
    public let attributes: [String: String]
    public var children: [XMLNode] = []
    public var text = ""

    public init(name: String, namespace: String?, attributes: [String: String]) {
        self.name = name
        self.namespace = namespace
        self.attributes = attributes
    }

    public func child(_ name: String) -> XMLNode? { children.first { $0.name == name } }
    public func children(_ name: String) -> [XMLNode] { children.filter { $0.name == name } }
    public var trimmedText: String { text.trimmed }
}

/// Two trees are equal when every element's name, namespace, attributes, text and children
/// are, byte for byte: what the differential tests of the two XML readers compare. Not
/// String's ==, under which a precomposed "é" equals "e" and a combining accent.
extension XMLNode: Equatable {
    public static func == (a: XMLNode, b: XMLNode) -> Bool {
        func same(_ x: String?, _ y: String?) -> Bool {
            guard let x, let y else { return x == nil && y == nil }
            return x.utf8.elementsEqual(y.utf8)
        }
        func pairs(_ node: XMLNode) -> [([UInt8], [UInt8])] {
            node.attributes.map { (Array($0.key.utf8), Array($0.value.utf8)) }.sorted { $0.0.lexicographicallyPrecedes($1.0) }
        }
        let attributes = pairs(a), others = pairs(b)
        return same(a.name, b.name) && same(a.namespace, b.namespace) && same(a.text, b.text)
            && attributes.count == others.count && zip(attributes, others).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
            && a.children == b.children
    }
}
