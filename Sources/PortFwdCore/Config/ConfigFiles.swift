import PortFwdReaders

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
    /// applied. Each file is length-prefixed, so nothing a file holds (a line that looks like
    /// a header, say) can split it:
    ///
    ///     libvirt-portfwd config bundle 1
    ///     file 24 120
    ///     /etc/libvirt/portfwd.toml<120 bytes of text>
    ///     file ...
    public var bundle: String {
        var text = Self.bundleHeader
        for file in files {
            text += "file \(file.path.utf8.count) \(file.text.utf8.count)\n" + file.path + file.text + "\n"
        }
        return text
    }

    static let bundleHeader = "libvirt-portfwd config bundle 1\n"
    /// The config's files together (`Setup`): four times a config of 40,000 guests. The
    /// reader is linear, but a value costs far more in memory than its text, and the hooks
    /// read the config at every event. Paths and headers in the state directory take little more.
    public static let maximumSize = 16 << 20
    public static let maximumBundleSize = maximumSize + (1 << 20)

    /// The files a bundle holds, the first of them named `main` (the config file may have
    /// been named differently when it applied). A bundle that does not read exactly is refused.
    public init(bundle: String, main: String) throws(PortFwdError) {
        let bytes = Array(bundle.utf8)
        func refuse(_ why: String, at offset: Int) -> PortFwdError {
            PortFwdError(.invalidInput, "the config as last applied is not a config bundle (\(why) at byte \(offset))")
        }
        let header = Array(Self.bundleHeader.utf8)
        guard bytes.starts(with: header) else { throw refuse("no header", at: 0) }
        var i = header.count
        func number() -> Int? {
            let start = i
            var n = 0
            while i < bytes.count, bytes[i] >= 0x30, bytes[i] <= 0x39, i - start < 10 { n = n * 10 + Int(bytes[i] - 0x30); i += 1 }
            return i > start ? n : nil
        }
        var files: [File] = []
        while i < bytes.count {
            guard bytes[i...].starts(with: "file ".utf8) else { throw refuse("expected a file header", at: i) }
            i += 5
            guard let pathLength = number(), i < bytes.count, bytes[i] == 0x20 else { throw refuse("expected the path's length", at: i) }
            i += 1
            guard let textLength = number(), i < bytes.count, bytes[i] == 0x0A else { throw refuse("expected the text's length", at: i) }
            i += 1
            guard bytes.count - i >= pathLength + textLength + 1, bytes[i + pathLength + textLength] == 0x0A else {
                throw refuse("a file is cut short", at: i)
            }
            guard let path = String(validating: bytes[i..<(i + pathLength)], as: UTF8.self),
                  let text = String(validating: bytes[(i + pathLength)..<(i + pathLength + textLength)], as: UTF8.self) else {
                throw refuse("not UTF-8 text", at: i)
            }
            files.append(File(path: files.isEmpty ? main : path, text: text))
            i += pathLength + textLength + 1
        }
        guard !files.isEmpty else { throw refuse("no file", at: i) }
        self.files = files
    }

    /// The bundle as versions before 1 wrote it: the main file's text as it is, then each
    /// drop-in after a line `#@libvirt-portfwd-file PATH`. A line of a file that began so split
    /// it, which is why it is read only to upgrade, and never written.
    public init(legacyBundle bundle: String, main: String) {
        let marker = "#@libvirt-portfwd-file "
        var files: [File] = []
        var path = main
        var lines: [Substring] = []
        for line in bundle.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix(marker) {
                // The newline before the marker is the bundle's, not the file's.
                files.append(File(path: path, text: lines.joined(separator: "\n")))
                path = String(line.dropFirst(marker.count))
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
        // The forwards of each merged guest, by index: a set, so that merging a guest's
        // thousands of forwards from a second file is not a scan per forward.
        var mergedForwards: [Int: Set<Forward>] = [:]
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
                let known = mergedForwards[at] ?? Set(merged.forwards)
                let added = guest.forwards.filter { !known.contains($0) }
                merged.forwards += added
                mergedForwards[at] = known.union(added)
                config.guests[at] = merged
            }
        }
        if !problems.isEmpty { throw PortFwdError(.invalidInput, lines: problems) }
        return config
    }

    /// What makes entries one guest's: the same UUID, or, both without one, the same name (byte
    /// for byte, as GuestName hashes). An entry pinned by UUID never takes in a name-only one
    /// (nor the other way round): a name-only entry is for whichever domain bears the name, a
    /// pinned one for that domain alone.
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
