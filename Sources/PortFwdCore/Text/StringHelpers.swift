/// The few string operations Core needs, written out so that Core does not import Foundation.

extension StringProtocol {
    /// Without leading and trailing ASCII white space (Foundation's trimming, without Foundation).
    public var trimmed: String {
        let isSpace = { (c: Character) in c == " " || c == "\t" || c == "\n" || c == "\r" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(self[first...last])
    }
}

extension StringProtocol {
    /// Where `needle`'s UTF-8 bytes first occur. For the ASCII needles the tool looks for, the
    /// same answer as `firstRange(of:)` and `contains(_:)`, without their searcher, which builds
    /// a table of Characters at every call: 0.1 million instructions each, a twentieth of a
    /// small apply's (callgrind, "Lean, fifth step").
    public func firstUTF8Range(of needle: some StringProtocol) -> Range<Index>? {
        let pin = Array(needle.utf8)
        guard let first = pin.first else { return startIndex..<startIndex }
        var at = utf8.startIndex
        while let start = utf8[at...].firstIndex(of: first) {
            var i = start, matched = 0
            while matched < pin.count, i < utf8.endIndex, utf8[i] == pin[matched] {
                matched += 1
                i = utf8.index(after: i)
            }
            if matched == pin.count { return start..<i }
            at = utf8.index(after: start)
        }
        return nil
    }

    /// Whether `needle`'s UTF-8 bytes occur here (see `firstUTF8Range(of:)`).
    public func containsUTF8(_ needle: some StringProtocol) -> Bool { firstUTF8Range(of: needle) != nil }
}

extension String {
    /// The text with the first occurrence of `needle` replaced (Foundation's, without Foundation).
    public func replacingFirst(_ needle: String, with replacement: String) -> String {
        guard !needle.isEmpty, let found = firstUTF8Range(of: needle) else { return self }
        return String(self[..<found.lowerBound]) + replacement + String(self[found.upperBound...])
    }
}

/// ASCII hex digits read as bytes, for the files and comments the tool writes itself, where
/// String's Character-by-Character parse costs a hundred times more than the digits.
public enum ASCIIHex {
    /// The number `digits` spell (1 to 16 of 0-9, a-f, A-F); nil for anything else, a sign included.
    public static func value<Digits: Collection<UInt8>>(_ digits: Digits) -> UInt64? {
        guard !digits.isEmpty, digits.count <= 16 else { return nil }
        var value: UInt64 = 0
        for d in digits {
            let v: UInt8
            switch d {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): v = d - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): v = d - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): v = d - UInt8(ascii: "A") + 10
            default: return nil
            }
            value = value << 4 | UInt64(v)
        }
        return value
    }
}
