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
