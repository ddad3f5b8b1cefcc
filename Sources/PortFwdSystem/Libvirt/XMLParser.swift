import CXMLShim
import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif
import PortFwdCore

/// Parses untrusted XML (the hook's stdin, libvirt's files) into an `XMLNode` tree: through
/// `XMLReader` when the document is as plain as libvirt writes it, and otherwise through
/// libxml2's SAX2 interface (CXMLShim), loaded on the first such parse. Both give the same
/// tree for what the reader accepts; everything else, every error included, is libxml2's.
///
/// What makes hostile input harmless is the shim's handler: it registers no entity and no
/// DTD callbacks, so no entity is declared or expanded and nothing is fetched, and a document
/// type declaration, which libvirt never writes, fails the parse. Before that, input that is
/// not plain UTF-8 (any NUL byte: UTF-16 or binary) is refused, and so is a document larger
/// than `maximumSize`, or whose shape (`XMLShape`: nesting, attributes per element, namespace
/// declarations) would cost libxml2 more than linear time. Every step after is linear.
public enum XMLParser {
    public static let maximumSize = 4 << 20

    public static func parse(_ data: Data) throws(PortFwdError) -> XMLNode { try parse([UInt8](data)) }

    public static func parse(_ bytes: [UInt8]) throws(PortFwdError) -> XMLNode {
        var errors: Int32 = 0
        return try parse(bytes, errors: &errors)
    }

    /// `errors`: how many errors libxml2 raised, which is at most one: the first ends the parse.
    static func parse(_ bytes: [UInt8], errors: inout Int32) throws(PortFwdError) -> XMLNode {
        try parse(bytes, errors: &errors, reader: true)
    }

    /// Through libxml2 always: what `XMLReader`'s trees are compared with (the differential
    /// tests and the `XML` fuzz target).
    public static func parseThroughLibxml2(_ bytes: [UInt8]) throws(PortFwdError) -> XMLNode {
        var errors: Int32 = 0
        return try parse(bytes, errors: &errors, reader: false)
    }

    /// The tree `XMLReader` reads, or nil where it gives way to libxml2; within the limits
    /// `parse` applies first.
    public static func readWithoutLibxml2(_ bytes: [UInt8]) -> XMLNode? {
        guard bytes.count <= maximumSize, !bytes.contains(0), XMLShape.refusal(bytes) == nil else { return nil }
        return XMLReader.read(bytes)
    }

    static func parse(_ bytes: [UInt8], errors: inout Int32, reader: Bool) throws(PortFwdError) -> XMLNode {
        guard bytes.count <= maximumSize else {
            throw PortFwdError(.invalidInput, "XML is \(bytes.count) bytes; refusing more than \(maximumSize) bytes")
        }
        guard !bytes.isEmpty else { throw PortFwdError(.invalidInput, "malformed XML: the document is empty") }
        if bytes.contains(0) {
            throw PortFwdError(.invalidInput, "XML holds a NUL byte (UTF-16 or binary data); libvirt writes UTF-8")
        }
        if let refusal = XMLShape.refusal(bytes) {
            throw PortFwdError(.invalidInput, "XML refused at line \(refusal.line): \(refusal.reason)")
        }
        if reader, let tree = XMLReader.read(bytes) { return tree }
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
            bytes.withUnsafeBytes { raw in
                pf_xml_parse(raw.baseAddress!.assumingMemoryBound(to: CChar.self), Int32(raw.count), &handler,
                             &message, Int32(message.count), &line, &errors)
            }
        }
        guard status == 0, let root = builder.root else {
            // One line: some of libxml2's messages run on ("...encoding !\nBytes: 0xFF 0x20").
            let detail = status == 0 ? "no root element"
                : LogText.line(String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
            throw PortFwdError(.invalidInput, "malformed XML\(line > 0 ? " at line \(line)" : ""): \(detail)")
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

extension Domain {
    /// A domain from its XML bytes (the hook's stdin, a runtime status file).
    public static func parse(_ data: Data) throws(PortFwdError) -> Domain { try Domain(XMLParser.parse(data)) }
    public static func parse(_ bytes: [UInt8]) throws(PortFwdError) -> Domain { try Domain(XMLParser.parse(bytes)) }
}

extension NetworkDefinition {
    public static func parse(_ data: Data) throws(PortFwdError) -> NetworkDefinition { try NetworkDefinition(XMLParser.parse(data)) }
}
