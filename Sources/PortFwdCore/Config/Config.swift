/// The whole config file, validated. Once a `Config` exists every value in it is usable.
public struct Config: Hashable, Sendable {
    public static let defaultPath = "/etc/libvirt/portfwd.toml"

    public var settings = Settings()
    public var guests: [GuestConfig] = []
    /// Where it came from, for messages.
    public var file: String = "(none)"

    public init(settings: Settings = Settings(), guests: [GuestConfig] = [], file: String = "(none)") {
        self.settings = settings
        self.guests = guests
        self.file = file
    }

    /// The config entry for a domain: the one naming its UUID, the one naming only its name,
    /// or, when both match, the two together: the forwards of both (each once), and the
    /// address of the one by UUID where it gives one. Neither silently hides the other.
    public func guest(named name: GuestName, uuid: DomainUUID?) -> GuestConfig? {
        let (byUUID, byName) = entries(named: name, uuid: uuid)
        guard var both = byUUID else { return byName }
        guard let byName else { return both }
        for f in byName.forwards where !both.forwards.contains(where: { $0.isSame(as: f) }) {
            both.forwards.append(f)
        }
        both.address4 = both.address4 ?? byName.address4
        both.address6 = both.address6 ?? byName.address6
        return both
    }

    /// The entries, as written, that a domain matches: by its UUID, and by its name only.
    public func entries(named name: GuestName, uuid: DomainUUID?) -> (byUUID: GuestConfig?, byName: GuestConfig?) {
        (uuid.flatMap { u in guests.first { $0.uuid == u } }, guests.first { $0.uuid == nil && $0.name == name })
    }

    /// Parses and validates config text; every problem is one line of the error.
    public static func parse(_ text: String, file: String = "(string)") throws(PortFwdError) -> Config {
        var parser = ConfigParser(text: text, file: file)
        return try parser.parse()
    }
}

/// One config problem: file, then the line or key path, then why.
struct ConfigProblem: Sendable, Equatable, CustomStringConvertible {
    let file: String
    /// "line 3" or "guest[1].forwards[2]", or both.
    let location: String?
    let reason: String

    var description: String { [file, location, reason].compactMap { $0 }.joined(separator: ": ") }
}
