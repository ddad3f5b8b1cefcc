/// What a line of ours may hold when it reaches syslog, the journal, stderr or libvirt's error
/// message: printable text only, on one line, of bounded length. Domain names, metadata and
/// argv reach messages, and a CR, an LF, an ANSI escape or a Unicode line separator in them
/// would forge a line of their own in a log an admin trusts. Taken by scalar, not by
/// Character: Swift treats "\r\n" as one Character, and a check by Character misses it.
public enum LogText {
    /// The longest line kept whole; syslog's own limit is near here.
    public static let maximumLength = 2048

    /// `text` made safe: line breaks become "; ", and every other control, format or separator
    /// scalar is written as an escape (`\r`, `\u{1B}`), so it can be seen but not act.
    public static func line(_ text: String) -> String {
        var out = String.UnicodeScalarView()
        var pendingBreak = false
        var count = 0
        for scalar in text.unicodeScalars {
            if count >= maximumLength { out.append(contentsOf: "…".unicodeScalars); break }
            if scalar == "\n" || scalar == "\u{2028}" || scalar == "\u{2029}" || scalar == "\u{85}" {
                pendingBreak = !out.isEmpty
                continue
            }
            if pendingBreak { out.append(contentsOf: "; ".unicodeScalars); pendingBreak = false; count += 2 }
            if isPrintable(scalar) {
                out.append(scalar)
                count += 1
            } else {
                let escaped = escape(scalar)
                out.append(contentsOf: escaped.unicodeScalars)
                count += escaped.unicodeScalars.count
            }
        }
        return String(out)
    }

    static func isPrintable(_ scalar: Unicode.Scalar) -> Bool {
        if scalar.isASCII { return scalar.value >= 0x20 && scalar.value < 0x7F }
        switch scalar.properties.generalCategory {
        case .control, .format, .lineSeparator, .paragraphSeparator, .privateUse, .surrogate, .unassigned: return false
        default: return true
        }
    }

    static func escape(_ scalar: Unicode.Scalar) -> String {
        switch scalar {
        case "\r": return "\\r"
        case "\t": return "\\t"
        default:
            let digits = String(scalar.value, radix: 16, uppercase: true)
            return "\\u{" + String(repeating: "0", count: max(0, 2 - digits.count)) + digits + "}"
        }
    }

    /// At most `limit` of `lines`, then one line counting the rest: one event never floods a
    /// log, whatever a guest owner put in its metadata.
    public static func capped(_ lines: [String], limit: Int = 5) -> [String] {
        guard lines.count > limit else { return lines }
        let rest = lines.count - limit
        return Array(lines.prefix(limit))
            + ["… and \(rest) more like \(rest == 1 ? "it" : "these") (libvirt-portfwd status shows what is installed)"]
    }
}

extension Error {
    /// An error as one line, for syslog and libvirt's error message: its first lines, joined,
    /// and a count of the rest.
    public var oneLine: String {
        let lines = String(describing: self).split(separator: "\n").map(String.init)
        return LogText.capped(lines, limit: 5).joined(separator: "; ")
    }
}
