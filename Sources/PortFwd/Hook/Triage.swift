import PortFwdCore
import PortFwdSystem

/// Decides, without parsing TOML or XML, that a qemu hook event cannot concern any forward.
/// libvirtd waits for the hook five times per guest lifecycle, and most guests have no
/// forwards; this keeps their hook calls close to a process start. It only ever answers
/// "no-op" when that is certain; anything unusual goes down the full path.
///
/// Searches are plain byte loops on purpose: Foundation's `range(of:)` and `contains` bridge
/// through NSData/NSString, whose first use costs more than the whole decision.
public enum Triage {
    public static func isNoOp(operation: HookOperation, guest: String, xml: [UInt8], configText: String?, store: StateStore) -> Bool {
        guard operation.action != .none else { return true }
        guard let uuid = DomainIdentity.uuid(in: xml) else { return false }
        // A record means the guest had forwards when it started: stop and reconnect must see it.
        if store.has(uuid) { return false }
        if operation.action == .forget { return true }
        // Forwards from the domain's own metadata.
        if find(Array(Domain.namespace.utf8), in: xml) != nil { return false }
        // Forwards from the config: only a [[guest]] naming this domain can have any. The
        // name is looked for anywhere in the file, which can only err towards the full path.
        // TOML can spell a name without its bytes appearing (`"w\u0065b1"`, a line-ending
        // backslash inside a multi-line string): a file with any backslash, or a name outside
        // a plain alphabet, is not triaged at all.
        guard let text = configText else { return true }
        guard guest.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }) else { return false }
        let config = Array(text.utf8)
        if config.contains(UInt8(ascii: "\\")) { return false }
        return find(Array(guest.utf8), in: config) == nil
            && find(Array(uuid.value.utf8), in: config, asciiCaseInsensitive: true) == nil
    }

    /// Index of the first occurrence of `needle` in `haystack` at or after `from`.
    static func find(_ needle: [UInt8], in haystack: [UInt8], from: Int = 0, asciiCaseInsensitive: Bool = false) -> Int? {
        let fold = { (byte: UInt8) -> UInt8 in asciiCaseInsensitive && byte >= 0x41 && byte <= 0x5A ? byte | 0x20 : byte }
        let needle = needle.map(fold)
        guard !needle.isEmpty, haystack.count - from >= needle.count else { return nil }
        outer: for start in from...(haystack.count - needle.count) {
            for offset in 0..<needle.count where fold(haystack[start + offset]) != needle[offset] { continue outer }
            return start
        }
        return nil
    }
}
