import CHookTriage

/// A domain's UUID found by a byte scan, without parsing the document: what stopping a guest
/// and the no-op triage need, and all they may depend on. A guest owner can make the rest of
/// the XML unparsable (a DOCTYPE inside a comment, nesting past libxml2's depth limit, a live
/// XML over the size limit), but cannot make this scan fail or lie:
///
/// - libvirt writes `<name>` and `<uuid>` first inside `<domain>`, before `<metadata>`,
///   `<title>` and `<description>`, the only places a guest owner's text can go;
/// - the name is escaped text, so it cannot contain `<uuid>`;
/// - the UUID of a defined domain cannot be changed, live or persistent.
///
/// So the first `<uuid>` after the first `<domain` is the domain's own. A status file's
/// `<domstatus>` wrapper holds no `<uuid>` of its own before its `<domain>`.
///
/// The scan is CHookTriage's `pf_domain_uuid`, which the hook's front door runs too: the two
/// can never find different UUIDs for one XML.
public enum DomainIdentity {
    public static func uuid(in xml: [UInt8]) -> DomainUUID? {
        var text = [CChar](repeating: 0, count: 37)
        let found = xml.withUnsafeBufferPointer { bytes in pf_domain_uuid(bytes.baseAddress, bytes.count, &text) }
        guard found == 1 else { return nil }
        return try? DomainUUID(String(decoding: text.prefix(36).map { UInt8(bitPattern: $0) }, as: UTF8.self))
    }
}
