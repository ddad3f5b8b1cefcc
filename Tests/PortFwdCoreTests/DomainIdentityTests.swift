import Testing
import PortFwdCore

/// The domain's UUID scan is C (CHookTriage), shared with the hook's front door. It replaced a
/// Swift scan, kept here as the reference: on any bytes, the two find the same UUID or none.
@Suite struct DomainIdentityTests {
    /// The Swift scan as it was (until 77fc73e).
    static func reference(_ xml: [UInt8]) -> DomainUUID? {
        func find(_ needle: [UInt8], from: Int, boundary: Bool) -> Int? {
            guard xml.count - from >= needle.count else { return nil }
            var start = from
            while start <= xml.count - needle.count {
                if xml[start] == needle[0] && xml[start..<(start + needle.count)].elementsEqual(needle) {
                    let next = start + needle.count
                    if !boundary || next == xml.count || [0x20, 0x09, 0x0A, 0x0D, UInt8(ascii: ">")].contains(xml[next]) { return start }
                }
                start += 1
            }
            return nil
        }
        guard let domain = find(Array("<domain".utf8), from: 0, boundary: true),
              let open = find(Array("<uuid>".utf8), from: domain + 7, boundary: false),
              let close = find(Array("</uuid>".utf8), from: open + 6, boundary: false),
              close - open <= 6 + 64 else { return nil }
        let isSpace = { (byte: UInt8) in byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D }
        var inner = xml[(open + 6)..<close]
        while let first = inner.first, isSpace(first) { inner = inner.dropFirst() }
        while let last = inner.last, isSpace(last) { inner = inner.dropLast() }
        guard let text = String(validating: inner, as: UTF8.self) else { return nil }
        return try? DomainUUID(text)
    }

    static let pieces: [String] = [
        "<domain", "<domain ", "<domain>", "<domainx>", "<domstatus>", "<uuid>", "</uuid>", "<uuid/>", " ", "\n", "\t", "\r", ">",
        "0a0b0c0d-0000-4000-8000-000000000099", "0A0B0C0D-0000-4000-8000-0000000000AA", "0a0b0c0d00004000800000000000009",
        "0a0b0c0d-0000-4000-8000-00000000009", "0a0b0c0d-0000-4000-8000-0000000000999", "-", "g", "é", "K", "\u{301}", "\0",
        "<name>plain</name>", "<metadata>", "</metadata>", "&lt;uuid&gt;", "<uuid>11111111-2222-3333-4444-555555555555</uuid>",
    ]

    @Test func theCScanFindsWhatTheSwiftScanFound() {
        var rng = SplitMix.printed("theCScanFindsWhatTheSwiftScanFound")
        var found = 0
        for round in 0..<20_000 {
            var xml: [UInt8] = []
            for _ in 0..<Int.random(in: 1...12, using: &rng) { xml += Array(Self.pieces.randomElement(using: &rng)!.utf8) }
            if round % 5 == 0, !xml.isEmpty {
                // A byte changed, or the input cut, anywhere.
                let at = Int.random(in: 0..<xml.count, using: &rng)
                if Bool.random(using: &rng) { xml[at] = UInt8.random(in: 0...255, using: &rng) } else { xml = Array(xml[..<at]) }
            }
            let expected = Self.reference(xml)
            #expect(DomainIdentity.uuid(in: xml) == expected, "\(String(decoding: xml, as: UTF8.self).debugDescription)")
            if expected != nil { found += 1 }
        }
        #expect(found > 500, "\(found) inputs had a UUID")
    }
}
