import Foundation

/// Decides, without parsing TOML or XML, that a qemu hook event cannot concern any forward.
/// libvirtd waits for the hook five times per guest lifecycle, and most guests have no
/// forwards; this keeps their hook calls close to a process start. It only ever answers
/// "no-op" when that is certain; anything unusual goes down the full path.
public enum Triage {
    static let acting: Set<String> = ["prepare", "start", "stopped", "release", "reconnect", "attach"]

    public static func isNoOp(operation: String, guest: String, xml: Data, configText: String?, store: StateStore) -> Bool {
        guard acting.contains(operation) else { return true }
        guard let uuid = uuid(in: xml) else { return false }
        // A record means the guest had forwards when it started: stop and reconnect must see it.
        if store.has(uuid) { return false }
        if operation == "stopped" || operation == "release" { return true }
        // Forwards from the domain's own metadata.
        if xml.range(of: Data(Domain.namespace.utf8)) != nil { return false }
        // Forwards from the config: only a [[guest]] naming this domain can have any. The
        // name is looked for anywhere in the file, which can only err towards the full path;
        // names that TOML might spell with escapes are not triaged at all.
        guard let text = configText else { return true }
        guard guest.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }) else { return false }
        return !text.contains(guest) && !text.lowercased().contains(uuid.value)
    }

    /// The text of `<uuid>` by plain search; nil unless it is a well-formed UUID.
    static func uuid(in xml: Data) -> DomainUUID? {
        guard let open = xml.range(of: Data("<uuid>".utf8)),
              let close = xml.range(of: Data("</uuid>".utf8), in: open.upperBound..<xml.endIndex) else { return nil }
        let text = String(decoding: xml[open.upperBound..<close.lowerBound], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return try? DomainUUID(text)
    }
}
