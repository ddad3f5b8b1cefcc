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
public enum DomainIdentity {
    public static func uuid(in xml: [UInt8]) -> DomainUUID? {
        guard let domain = find(Array("<domain".utf8), in: xml, from: 0, boundary: true),
              let open = find(Array("<uuid>".utf8), in: xml, from: domain + 7, boundary: false),
              let close = find(Array("</uuid>".utf8), in: xml, from: open + 6, boundary: false),
              close - open <= 6 + 64 else { return nil }
        let isSpace = { (byte: UInt8) in byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D }
        var inner = xml[(open + 6)..<close]
        while let first = inner.first, isSpace(first) { inner = inner.dropFirst() }
        while let last = inner.last, isSpace(last) { inner = inner.dropLast() }
        guard let text = String(validating: inner, as: UTF8.self) else { return nil }
        return try? DomainUUID(text)
    }

    /// Index of the first `needle` at or after `from`; with `boundary`, only where the next byte
    /// ends the element name (`<domain ` or `<domain>`, never `<domainfoo`).
    static func find(_ needle: [UInt8], in hay: [UInt8], from: Int, boundary: Bool) -> Int? {
        guard !needle.isEmpty, hay.count - from >= needle.count else { return nil }
        var start = from
        while start <= hay.count - needle.count {
            if hay[start] == needle[0] && hay[start..<(start + needle.count)].elementsEqual(needle) {
                let next = start + needle.count
                if !boundary || next == hay.count || [0x20, 0x09, 0x0A, 0x0D, UInt8(ascii: ">")].contains(hay[next]) { return start }
            }
            start += 1
        }
        return nil
    }
}
