/// The XML of our metadata element, as `forward add` writes it through libvirt:
///
///     <forwards>
///       <forward spec="8080:80/tcp" source="203.0.113.0/24"/>
///       <address>192.168.122.10</address>
///     </forwards>
///
/// Every value is printed from a typed model, so nothing an earlier writer put there survives
/// unparsed.
public enum MetadataXML {
    public static func render(_ metadata: RunningGuest.Metadata) -> String {
        var text = "<forwards>"
        for forward in metadata.forwards {
            text += "<forward spec=\"\(forward.spec)\""
            if !forward.sources.isEmpty { text += " source=\"\(forward.sources.map(\.description).joined(separator: ","))\"" }
            text += "/>"
        }
        if let a = metadata.address4 { text += "<address>\(a)</address>" }
        if let a = metadata.address6 { text += "<address6>\(a)</address6>" }
        return text + "</forwards>"
    }
}
