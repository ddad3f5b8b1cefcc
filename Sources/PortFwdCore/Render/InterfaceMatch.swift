/// An interface name as each backend's rule text matches it: exactly, whatever the name holds.
/// A libvirt bridge may be called `iso+net` or `lan*`, and in iptables a trailing `+`, in nft a
/// trailing `*`, is a wildcard; matched as written, such a bridge would be matched wrongly, and
/// an isolated network left open. Where a backend cannot spell a name exactly (a `"`, a
/// trailing `+` in iptables), the match covers it and more: a prefix of the name, never less,
/// because an isolation rule that misses its bridge opens the network, while one that covers
/// too much only refuses forwards to clients on a few more interfaces.
public enum InterfaceMatch {
    /// The quoted string for `iifname`: exact unless the name holds a `"` (which nft's strings
    /// cannot) or ends in `\*`; then a prefix wildcard.
    public static func nft(_ name: String) -> String {
        // A backslash right before the wildcard would make it the character `*`: cut it too.
        if let cut = name.firstIndex(of: "\"") { return "\"\(name[..<cut].prefix { $0 != "\\" })*\"" }
        if name.hasSuffix("*") {
            // nft reads a trailing `*` as a wildcard and `\*` as the character; backslashes
            // right before it are dropped, so a name ending in `\*` cannot be spelt.
            let stem = name.dropLast()
            if stem.hasSuffix("\\") { return "\"\(stem.prefix { $0 != "\\" })*\"" }
            return "\"\(stem)\\*\""
        }
        return "\"\(name)\""
    }

    /// The word after `-i`/`-o`: exact unless the name ends in `+` (iptables' wildcard, with no
    /// escape) or holds a character iptables-restore would read as quoting; then a prefix
    /// wildcard.
    public static func iptables(_ name: String) -> String {
        if let cut = name.firstIndex(where: { $0 == "\"" || $0 == "\\" }) { return "\(name[..<cut])+" }
        return name
    }
}
