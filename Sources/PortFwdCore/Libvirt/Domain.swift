import CHookTriage

/// The parts of a libvirt domain XML the hook needs, read from the hook's stdin or from
/// libvirt's runtime status files. Everything in it is untrusted and parsed into typed values.
public struct Domain: Sendable {
    public let name: GuestName
    public let uuid: DomainUUID
    public let interfaces: [RunningGuest.Interface]
    /// nil when the domain has no `<metadata>` element in our namespace, or when it does not
    /// parse (then `metadataProblem` says why).
    public let metadata: RunningGuest.Metadata?
    /// Why our metadata element was refused. A guest owner's bad metadata costs that guest its
    /// metadata forwards and nothing else: the domain is still read, its config forwards
    /// still apply, and it still starts and stops.
    public let metadataProblem: String?

    /// Defined beside the triage, which looks for it before anything is parsed.
    public static let namespace = PF_METADATA_NAMESPACE
    /// Client networks one metadata forward may name: a guest owner's list must stay cheap.
    public static let maximumSources = 64
    /// Forwards one domain's metadata may declare at all, whatever settings.metadata-max-forwards
    /// says, and client networks over all of them: more is refused before any is parsed. The
    /// service reads every running domain at each check, so one owner's metadata must stay
    /// cheap to read for everyone's sake (3,700 forwards of 64 networks each took seconds).
    public static let maximumForwards = 1024
    public static let maximumAllSources = 4096

    public init(_ root: XMLNode) throws(PortFwdError) {
        // libvirt's runtime status files wrap the domain: <domstatus state=...><domain>...
        var root = root
        if root.name == "domstatus", let inner = root.child("domain") { root = inner }
        guard root.name == "domain" else { throw PortFwdError(.invalidInput, "not a domain XML (root element <\(root.name)>)") }
        // The name exactly as libvirt wrote it: `victim ` is another domain than `victim`.
        guard let nameText = root.child("name")?.text else { throw PortFwdError(.invalidInput, "domain XML has no <name>") }
        guard let uuidText = root.child("uuid")?.trimmedText else { throw PortFwdError(.invalidInput, "domain XML has no <uuid>") }
        name = try GuestName(nameText)
        uuid = try DomainUUID(uuidText)
        var interfaces: [RunningGuest.Interface] = []
        for node in root.child("devices")?.children("interface") ?? [] {
            guard let macText = node.child("mac")?.attributes["address"], let mac = MAC(macText) else { continue }
            let source = node.child("source")
            let type = node.attributes["type"]
            // The hook's live XML names the bridge on <source>; a status file under <actual>.
            interfaces.append(RunningGuest.Interface(mac: mac, network: type == "network" ? source?.attributes["network"] : nil,
                                                     bridge: source?.attributes["bridge"]
                                                         ?? node.child("actual")?.child("source")?.attributes["bridge"]))
        }
        self.interfaces = interfaces
        // Our element is recognised by its namespace; what is inside by local name only,
        // because `virsh metadata --set` and hand-written XML differ in prefixes.
        let element = root.child("metadata")?.children.first { $0.namespace == Self.namespace }
        do {
            metadata = try element.map { node throws(PortFwdError) in try Self.parseMetadata(node) }
            metadataProblem = nil
        } catch {
            metadata = nil
            metadataProblem = error.lines.prefix(3).joined(separator: "; ")
        }
    }

    /// `<forwards xmlns="urn:libvirt-portfwd:1">` in a domain's metadata:
    ///
    ///     <forwards>
    ///       <forward spec="8080:80" source="203.0.113.0/24,198.51.100.7"/>
    ///       <address>192.168.122.10</address>
    ///       <address6>fd00:122::10</address6>
    ///     </forwards>
    public static func parseMetadata(_ node: XMLNode) throws(PortFwdError) -> RunningGuest.Metadata {
        var forwards: [Forward] = []
        var addresses: [Family: IPAddress] = [:]
        let declared = node.children.filter { $0.name == "forward" }
        guard declared.count <= maximumForwards else {
            throw PortFwdError(.invalidInput, "metadata declares \(declared.count) forwards, more than \(maximumForwards) "
                + "(whatever settings.metadata-max-forwards says)")
        }
        var listed = 0
        for forward in declared {
            guard let list = forward.attributes["source"] else { continue }
            listed += 1
            for byte in list.utf8 where byte == UInt8(ascii: ",") { listed += 1 }
        }
        guard listed <= maximumAllSources else {
            throw PortFwdError(.invalidInput, "metadata names \(listed) client networks over its forwards, more than \(maximumAllSources)")
        }
        for (index, child) in node.children.enumerated() {
            let at = "metadata <\(child.name)> #\(index + 1)"
            switch child.name {
            case "forward":
                guard let specText = child.attributes["spec"] else { throw PortFwdError(.invalidInput, "\(at): missing spec attribute") }
                let spec: PortSpec
                do { spec = try PortSpec.parse(specText) } catch { throw error.prefixed(at) }
                var sources: [Network] = []
                if let list = child.attributes["source"] {
                    let items = list.split(separator: ",", omittingEmptySubsequences: false)
                    guard items.count <= Self.maximumSources else {
                        throw PortFwdError(.invalidInput, "\(at): \(items.count) sources, more than \(Self.maximumSources); "
                            + "name a covering network instead")
                    }
                    for item in items {
                        do {
                            sources.append(try Network.parse(item.trimmed))
                        } catch {
                            throw PortFwdError(.invalidInput, "\(at): source \(error.message)")
                        }
                    }
                }
                forwards.append(Forward(spec: spec, sources: sources, origin: .metadata))
            case "address", "address6":
                let family: Family = child.name == "address" ? .ipv4 : .ipv6
                let text = child.trimmedText
                guard let a = IPAddress(text), a.family == family else {
                    throw PortFwdError(.invalidInput, "\(at): '\(text)' is not an \(family.label) address")
                }
                if let refusal = a.guestRefusal { throw PortFwdError(.invalidInput, "\(at): \(refusal)") }
                addresses[family] = a
            default:
                throw PortFwdError(.invalidInput, "\(at): unknown element (expected forward, address or address6)")
            }
        }
        return RunningGuest.Metadata(forwards: forwards, address4: addresses[.ipv4], address6: addresses[.ipv6])
    }
}
