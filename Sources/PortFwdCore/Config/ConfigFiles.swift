/// The config as the admin keeps it: `portfwd.toml`, then every `portfwd.d/*.toml` in name
/// order, the drop-in convention admins and their config management know from sshd and
/// sudoers. `forward add` writes a guest's forwards there when only the config may open them.
///
/// Settings belong in the main file. A guest may appear in several files: its forwards are
/// taken together, and an address given twice must be the same.
public struct ConfigFiles: Sendable, Hashable {
    public struct File: Sendable, Hashable {
        public let path: String
        public let text: String

        public init(path: String, text: String) {
            self.path = path
            self.text = text
        }
    }

    public let files: [File]

    public init(_ files: [File]) { self.files = files }

    /// One text that holds every file: what the state directory keeps as the config that last
    /// applied. The first file's text comes as it is, so a bundle of one file is that file.
    public var bundle: String {
        files.enumerated().map { i, f in i == 0 ? f.text : "\n\(Self.marker)\(f.path)\n" + f.text }.joined()
    }

    static let marker = "#@libvirt-portfwd-file "

    /// The files a bundle holds; `main` names the first.
    public init(bundle: String, main: String) {
        var files: [File] = []
        var path = main
        var lines: [Substring] = []
        for line in bundle.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix(Self.marker) {
                // The newline before the marker is the bundle's, not the file's.
                files.append(File(path: path, text: lines.joined(separator: "\n")))
                path = String(line.dropFirst(Self.marker.count))
                lines = []
            } else {
                lines.append(line)
            }
        }
        files.append(File(path: path, text: lines.joined(separator: "\n")))
        self.files = files
    }

    /// Every file parsed and the guests merged; every problem of every file, one line each.
    public func parse() throws(PortFwdError) -> Config {
        guard let main = files.first else { return Config() }
        var problems: [String] = []
        var config = Config(file: main.path)
        // Where each guest's entry stands, by `key`: one lookup per entry, not a scan (a
        // config of thousands of guests).
        var at: [Key: Int] = [:]
        for (index, file) in files.enumerated() {
            let part: Config
            do { part = try Config.parse(file.text, file: file.path) } catch {
                problems += error.lines
                continue
            }
            if index == 0 {
                config.settings = part.settings
            } else if Self.declaresSettings(file.text) {
                problems.append("\(file.path): [settings] belong in \(main.path)")
            }
            for var guest in part.guests {
                if index > 0 { guest.path = "\(Self.short(file.path)): \(guest.path)" }
                let key = Self.key(guest)
                guard let key, let at = at[key] else {
                    if let key { at[key] = config.guests.count }
                    config.guests.append(guest)
                    continue
                }
                var merged = config.guests[at]
                for family in Family.allCases {
                    guard let address = guest.address(family) else { continue }
                    if let existing = merged.address(family), existing != address {
                        problems.append("guest \(guest.label): \(family.addressKey) is \(existing) in \(merged.path) and \(address) in \(guest.path)")
                    } else if family == .ipv4 {
                        merged.address4 = address
                    } else {
                        merged.address6 = address
                    }
                }
                merged.forwards += guest.forwards.filter { f in !merged.forwards.contains { $0.spec == f.spec && $0.sources == f.sources } }
                config.guests[at] = merged
            }
        }
        if !problems.isEmpty { throw PortFwdError(.invalidInput, lines: problems) }
        return config
    }

    /// One guest's entries: the same UUID, or, both without one, the same name. An entry pinned
    /// by UUID never takes in a name-only one (nor the other way round): a name-only entry is
    /// for whichever domain bears the name, a pinned one for that domain alone.
    static func same(_ a: GuestConfig, _ b: GuestConfig) -> Bool {
        guard let ka = key(a), let kb = key(b) else { return false }
        return ka == kb
    }

    /// What `same` compares: the UUID, or for an entry without one, its name (byte for byte,
    /// as GuestName hashes).
    enum Key: Hashable {
        case uuid(DomainUUID), name(GuestName)
    }

    static func key(_ g: GuestConfig) -> Key? {
        if let u = g.uuid { return .uuid(u) }
        return g.name.map { .name($0) }
    }

    /// Whether the text sets anything under `settings`, however spelled (`[ settings ]`,
    /// `settings.metadata = ...`, an inline table): read by the TOML reader, not by the line.
    static func declaresSettings(_ text: String) -> Bool {
        ((try? TOML.parse(text))?["settings"]) != nil
    }

    /// `portfwd.d/web1.toml` for messages, from its full path.
    static func short(_ path: String) -> String {
        let parts = path.split(separator: "/")
        return parts.suffix(2).joined(separator: "/")
    }
}
