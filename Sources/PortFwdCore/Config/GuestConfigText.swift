/// A `[[guest]]` table as TOML text, printed from its typed values: what `forward add` writes
/// into a drop-in. Parsing the text gives back an equal entry.
extension GuestConfig {
    public var tomlText: String {
        var text = "[[guest]]\n"
        if let name { text += "name = \(Self.quoted(name.value))\n" }
        if let uuid { text += "uuid = \"\(uuid)\"\n" }
        if let address4 { text += "address = \"\(address4)\"\n" }
        if let address6 { text += "address6 = \"\(address6)\"\n" }
        let items = forwards.map { f in
            f.sources.isEmpty ? "\"\(f.spec)\"" : "{ spec = \"\(f.spec)\", sources = [\(f.sources.map { "\"\($0)\"" }.joined(separator: ", "))] }"
        }
        text += "forwards = [\n" + items.map { "  \($0),\n" }.joined() + "]\n"
        return text
    }

    /// A TOML basic string: quotes, backslashes and every control character escaped.
    static func quoted(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    let hex = String(scalar.value, radix: 16, uppercase: true)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}
