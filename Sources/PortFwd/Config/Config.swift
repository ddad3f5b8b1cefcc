import Foundation

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

    /// The config guest entry for a domain, if any.
    public func guest(named name: GuestName, uuid: DomainUUID?) -> GuestConfig? {
        guests.first { $0.matches(name: name, uuid: uuid) }
    }

    /// Reads and validates a config file. A missing file is only acceptable at the default
    /// path, where it means "no config forwards" (metadata may still declare some).
    public static func load(path: String, required: Bool) throws(ConfigError) -> Config {
        guard let data = FileManager.default.contents(atPath: path) else {
            if !required && !FileManager.default.fileExists(atPath: path) {
                return Config(file: path)
            }
            throw ConfigError(file: path, location: nil, reason: "cannot read the file")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigError(file: path, location: nil, reason: "not UTF-8 text")
        }
        var parser = ConfigParser(text: text, file: path)
        return try parser.parse()
    }

    public static func parse(_ text: String, file: String = "(string)") throws(ConfigError) -> Config {
        var parser = ConfigParser(text: text, file: file)
        return try parser.parse()
    }
}

/// One config problem: file, then the line or key path, then why.
public struct ConfigProblem: Sendable, Equatable, CustomStringConvertible {
    public let file: String
    /// "line 3" or "guest[1].forwards[2]", or both.
    public let location: String?
    public let reason: String

    public var description: String {
        [file, location, reason].compactMap { $0 }.joined(separator: ": ")
    }
}

/// Every problem found in a config file, one line each.
public struct ConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    public let problems: [ConfigProblem]

    init(_ problems: [ConfigProblem]) { self.problems = problems }
    init(file: String, location: String?, reason: String) {
        problems = [ConfigProblem(file: file, location: location, reason: reason)]
    }

    public var description: String { problems.map(\.description).joined(separator: "\n") }
}
