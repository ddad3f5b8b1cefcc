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
/// are: what the differential tests of the two XML readers compare.
extension XMLNode: Equatable {
    public static func == (a: XMLNode, b: XMLNode) -> Bool {
        a.name == b.name && a.namespace == b.namespace && a.attributes == b.attributes && a.text == b.text && a.children == b.children
    }
}
