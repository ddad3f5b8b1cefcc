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

    /// The config entry for a domain. An entry naming the domain's UUID wins over one naming
    /// its name, wherever the two stand in the file: a UUID cannot be reused by another domain.
    public func guest(named name: GuestName, uuid: DomainUUID?) -> GuestConfig? {
        if let uuid, let byUUID = guests.first(where: { $0.uuid == uuid }) { return byUUID }
        return guests.first { $0.uuid == nil && $0.name == name }
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
