import Foundation

/// The parts of a libvirt domain XML the hook needs.
public struct Domain: Sendable {
    public struct Interface: Sendable, Equatable {
        public let mac: String
        public let network: String?
        public let bridge: String?
    }

    public let name: GuestName
    public let uuid: DomainUUID
    public let interfaces: [Interface]
    /// nil when the domain has no `<metadata>` element in our namespace.
    public let metadata: MetadataForwards?

    public static let namespace = "urn:libvirt-portfwd:1"

    public static func parse(_ data: Data) throws(ParseError) -> Domain {
        let root = try XMLNode.parse(data)
        guard root.name == "domain" else { throw ParseError("not a domain XML (root element <\(root.name)>)") }
        guard let nameText = root.child("name")?.trimmedText else { throw ParseError("domain XML has no <name>") }
        guard let uuidText = root.child("uuid")?.trimmedText else { throw ParseError("domain XML has no <uuid>") }
        let name = try GuestName(nameText)
        let uuid = try DomainUUID(uuidText)
        var interfaces: [Interface] = []
        for node in root.child("devices")?.children("interface") ?? [] {
            guard let macText = node.child("mac")?.attributes["address"], let mac = MAC(macText) else { continue }
            let source = node.child("source")
            let type = node.attributes["type"]
            interfaces.append(Interface(mac: mac.value,
                                        network: type == "network" ? source?.attributes["network"] : nil,
                                        bridge: source?.attributes["bridge"]))
        }
        // Our element is recognised by its namespace; what is inside by local name only,
        // because `virsh metadata --set` and hand-written XML differ in prefixes.
        let element = root.child("metadata")?.children.first { $0.namespace == namespace }
        let metadata = try element.map { node throws(ParseError) in try MetadataForwards(node) }
        return Domain(name: name, uuid: uuid, interfaces: interfaces, metadata: metadata)
    }
}

/// A MAC address in libvirt's lower-case colon form.
public struct MAC: Hashable, Sendable {
    public let value: String
    public init?(_ text: String) {
        let lower = text.lowercased()
        let parts = lower.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 6, parts.allSatisfy({ $0.count == 2 && $0.allSatisfy(\.isHexDigit) }) else { return nil }
        value = lower
    }
}

/// `<forwards xmlns="urn:libvirt-portfwd:1">` in a domain's metadata:
///
///     <forwards>
///       <forward spec="8080:80" source="203.0.113.0/24,198.51.100.7"/>
///       <address>192.168.122.10</address>
///       <address6>fd00:122::10</address6>
///     </forwards>
public struct MetadataForwards: Sendable, Equatable {
    public let forwards: [Forward]
    public let address4: IPAddress?
    public let address6: IPAddress?

    init(_ node: XMLNode) throws(ParseError) {
        var forwards: [Forward] = []
        var address4: IPAddress?
        var address6: IPAddress?
        for (index, child) in node.children.enumerated() {
            let at = "metadata <\(child.name)> #\(index + 1)"
            switch child.name {
            case "forward":
                guard let specText = child.attributes["spec"] else { throw ParseError("\(at): missing spec attribute") }
                let spec: PortSpec
                do { spec = try PortSpec.parse(specText) } catch { throw ParseError("\(at): \(error.reason)") }
                var sources: [Network] = []
                if let list = child.attributes["source"] {
                    for item in list.split(separator: ",", omittingEmptySubsequences: false) {
                        do { sources.append(try Network.parse(item.trimmingCharacters(in: .whitespaces))) } catch {
                            throw ParseError("\(at): source \(error.reason)")
                        }
                    }
                }
                forwards.append(Forward(spec: spec, sources: sources, origin: .metadata))
            case "address", "address6":
                let text = child.trimmedText
                guard let a = IPAddress(text), a.isUnicast, !a.isLoopback, child.name == "address" || a.family == .ipv6 else {
                    throw ParseError("\(at): '\(text)' is not a usable guest address")
                }
                if a.family == .ipv4 { address4 = a } else { address6 = a }
            default:
                throw ParseError("\(at): unknown element (expected forward, address or address6)")
            }
        }
        self.forwards = forwards
        self.address4 = address4
        self.address6 = address6
    }
}
