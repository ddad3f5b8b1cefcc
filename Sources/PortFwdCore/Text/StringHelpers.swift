/// The few string operations Core needs, written out so that Core does not import Foundation.

extension StringProtocol {
    /// Without leading and trailing ASCII white space (Foundation's trimming, without Foundation).
    public var trimmed: String {
        let isSpace = { (c: Character) in c == " " || c == "\t" || c == "\n" || c == "\r" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(self[first...last])
    }
}

extension String {
    /// The text with the first occurrence of `needle` replaced (Foundation's, without Foundation).
    public func replacingFirst(_ needle: String, with replacement: String) -> String {
        let hay = Array(utf8), pin = Array(needle.utf8)
        guard !pin.isEmpty, hay.count >= pin.count else { return self }
        for start in 0...(hay.count - pin.count) where hay[start] == pin[0] && Array(hay[start..<(start + pin.count)]) == pin {
            return String(decoding: hay[..<start], as: UTF8.self) + replacement + String(decoding: hay[(start + pin.count)...], as: UTF8.self)
        }
        return self
    }
}
