/// Anyone who may edit a domain's metadata must not thereby open arbitrary host ports:
/// metadata forwards may only claim host ports inside `settings.metadata-host-ports`.
public enum MetadataPolicy {
    public static func check(_ forwards: [Forward], guest: GuestName, settings: Settings) throws(ParseError) {
        for f in forwards where f.origin == .metadata {
            guard settings.metadataHostPorts.contains(where: { $0.contains(f.spec.hostPorts) }) else {
                let allowed = settings.metadataHostPorts.map(\.description).joined(separator: ", ")
                throw ParseError("guest \(guest): metadata forward \(f.spec) uses host ports outside settings.metadata-host-ports (\(allowed.isEmpty ? "none" : allowed))")
            }
        }
    }
}
