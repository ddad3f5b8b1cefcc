/// A libvirt domain name. libvirt allows almost anything but '/', so the only place a name
/// reaches rule text is a `#` comment, through `commentText`, which keeps a safe alphabet.
public struct GuestName: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let value: String

    public init(_ text: String) throws(PortFwdError) {
        guard !text.isEmpty else { throw PortFwdError(.invalidInput, "guest name is empty") }
        guard text.utf8.count <= 255 else { throw PortFwdError(.invalidInput, "guest name is longer than 255 bytes") }
        guard !text.utf8.contains(UInt8(ascii: "/")), !text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw PortFwdError(.invalidInput, "guest name '\(text.debugDescription.dropFirst().dropLast())' contains '/' or control characters")
        }
        value = text
    }

    /// The name with anything outside `[A-Za-z0-9._+@:-]` replaced by '_'.
    public var commentText: String {
        String(value.unicodeScalars.map { scalar -> Character in
            let ok = scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || "._+@:-".unicodeScalars.contains(scalar))
            return ok ? Character(scalar) : "_"
        })
    }

    public var description: String { value }

    // Byte for byte, as libvirt compares names: Swift's `==` on String treats canonically
    // equivalent spellings ("é" as one scalar or two) as equal, and a config entry must never
    // match a domain whose name merely looks the same.
    public static func == (a: GuestName, b: GuestName) -> Bool { a.value.utf8.elementsEqual(b.value.utf8) }
    public func hash(into hasher: inout Hasher) {
        hasher.combine(value.utf8.count)
        for byte in value.utf8 { hasher.combine(byte) }
    }
    public static func < (a: GuestName, b: GuestName) -> Bool { a.value.utf8.lexicographicallyPrecedes(b.value.utf8) }
}

/// A libvirt domain UUID in canonical lower-case 8-4-4-4-12 form. State files are named after it.
public struct DomainUUID: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let value: String

    public init(_ text: String) throws(PortFwdError) {
        let lower = text.lowercased()
        let groups = lower.split(separator: "-", omittingEmptySubsequences: false).map(\.count)
        guard groups == [8, 4, 4, 4, 12], lower.allSatisfy({ $0 == "-" || $0.isHexDigit && $0.isASCII }) else {
            throw PortFwdError(.invalidInput, "'\(text)' is not a UUID")
        }
        value = lower
    }

    public var description: String { value }
    public static func < (a: DomainUUID, b: DomainUUID) -> Bool { a.value < b.value }
}
