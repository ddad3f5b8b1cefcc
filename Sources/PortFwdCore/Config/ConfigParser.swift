import PortFwdReaders

/// Turns TOML text into a `Config`, collecting every problem with its key path.
/// Unknown keys are errors: a typo like `adress` must not silently drop a guest's address.
struct ConfigParser {
    let text: String
    let file: String
    private var problems: [ConfigProblem] = []

    init(text: String, file: String) {
        self.text = text
        self.file = file
    }

    mutating func parse() throws(PortFwdError) -> Config {
        // The reader refuses a NUL byte, and a \u0000 escape that would put one into a value,
        // where it stands: in a comment or a literal string, `\u0000` is just text.
        let root: TOML.Table
        do {
            root = try TOML.parse(text)
        } catch {
            throw PortFwdError(.invalidInput, "\(file): line \(error.line), column \(error.column): \(error.reason)")
        }

        var config = Config(file: file)
        for key in root.keys where key != "settings" && key != "guest" {
            problem(Self.shown(key), Self.unknown(key, in: ["settings", "guest"]) + " (expected [settings] or [[guest]])", at: root[key])
        }
        if let value = root["settings"] {
            if let table = value.table { config.settings = parseSettings(table) } else { problem("settings", "must be a table") }
        }
        if let value = root["guest"] {
            if let array = value.array {
                for (i, item) in array.enumerated() {
                    let path = "guest[\(i)]"
                    guard let table = item.table else { problem(path, "must be a table ([[guest]])"); continue }
                    if let guest = parseGuest(table, path: path) { config.guests.append(guest) }
                }
            } else {
                problem("guest", "must be an array of tables: write [[guest]]")
            }
        }
        checkDuplicateGuests(config.guests)
        if !problems.isEmpty { throw PortFwdError(.invalidInput, lines: problems.map(\.description)) }
        return config
    }

    // MARK: - [settings]

    private mutating func parseSettings(_ table: TOML.Table) -> Settings {
        var settings = Settings()
        for key in table.keys {
            let path = "settings.\(Self.shown(key))"
            let value = table[key]!
            switch key {
            case "backend":
                if let v = enumValue(value, path, Settings.Backend.self) { settings.backend = v }
            case "admission":
                if let v = enumValue(value, path, Settings.AdmissionMode.self) { settings.admission = v }
            case "mark":
                guard let n = value.int else { problem(path, "must be an integer such as 0x10000000"); break }
                do { settings.mark = try Mark(n) } catch { problem(path, error.message) }
            case "hairpin": if let b = bool(value, path) { settings.hairpin = b }
            case "host-access": if let b = bool(value, path) { settings.hostAccess = b }
            case "metadata": if let b = bool(value, path) { settings.metadata = b }
            case "isolated-forwards": if let b = bool(value, path) { settings.isolatedForwards = b }
            case "metadata-host-ports":
                guard let array = value.array else { problem(path, "must be an array of port ranges like \"1024-65535\""); break }
                var ranges: [PortRange] = []
                for (i, item) in array.enumerated() {
                    guard let s = item.string else { problem("\(path)[\(i)]", "must be a string like \"1024-65535\""); continue }
                    do { ranges.append(try PortRange.parse(Substring(s))) } catch { problem("\(path)[\(i)]", error.message, at: item) }
                }
                settings.metadataHostPorts = ranges
            case "metadata-address":
                if let v = enumValue(value, path, Settings.MetadataAddress.self) { settings.metadataAddress = v }
            case "metadata-max-forwards":
                if let n = count(value, path) { settings.metadataMaxForwards = n }
            case "metadata-max-ports":
                if let n = count(value, path) { settings.metadataMaxPorts = n }
            case "floating-addresses":
                guard let array = value.array else { problem(path, "must be an array of addresses like \"203.0.113.7\""); break }
                for (i, item) in array.enumerated() {
                    guard let s = item.string else { problem("\(path)[\(i)]", "must be a string"); continue }
                    guard let a = IPAddress(s) else { problem("\(path)[\(i)]", "'\(s)' is not an IP address", at: item); continue }
                    if let refusal = PortSpec.hostRefusal(a) { problem("\(path)[\(i)]", refusal, at: item); continue }
                    settings.floatingAddresses.append(a)
                }
            case "prometheus-textfile":
                guard let s = string(value, path) else { break }
                // node_exporter's textfile collector reads only *.prom files of its directory.
                guard s.isEmpty || (s.hasPrefix("/") && s.hasSuffix(".prom") && s.utf8.count > 6 && !s.contains("/../") && !s.utf8.contains(0)) else {
                    problem(path, "must be an absolute path ending in .prom (or \"\" for none), not '\(LogText.line(s))'", at: value); break
                }
                settings.prometheusTextfile = s
            default:
                problem(path, Self.unknown(key, in: Self.settingsKeys), at: table[key])
            }
        }
        return settings
    }

    // MARK: - [[guest]]

    private mutating func parseGuest(_ table: TOML.Table, path: String) -> GuestConfig? {
        var guest = GuestConfig(path: path)
        var guestSources: [Network]?
        var rawForwards: [TOML.Value]?
        let before = problems.count
        for key in table.keys {
            let keyPath = "\(path).\(Self.shown(key))"
            let value = table[key]!
            switch key {
            case "name":
                guard let s = string(value, keyPath) else { break }
                do { guest.name = try GuestName(s) } catch { problem(keyPath, error.message, at: value) }
            case "uuid":
                guard let s = string(value, keyPath) else { break }
                do { guest.uuid = try DomainUUID(s) } catch { problem(keyPath, error.message, at: value) }
            case "address": guest.address4 = address(value, keyPath, .ipv4)
            case "address6": guest.address6 = address(value, keyPath, .ipv6)
            case "sources": guestSources = sources(value, keyPath)
            case "forwards":
                if let array = value.array { rawForwards = array } else { problem(keyPath, "must be an array") }
            default:
                problem(keyPath, Self.unknown(key, in: Self.guestKeys), at: table[key])
            }
        }
        if guest.name == nil && guest.uuid == nil && problems.count == before {
            problem(path, "needs a name or a uuid")
        }
        for (i, item) in (rawForwards ?? []).enumerated() {
            // The key path is built only for a message: there may be ten thousand forwards.
            if let forward = parseForward(item, path: { "\(path).forwards[\(i)]" }, guestSources: guestSources ?? []) {
                guest.forwards.append(forward)
            }
        }
        // With an address in the config, none is discovered: a forward bound to a host address
        // of the other family could never go anywhere.
        if guest.address4 != nil || guest.address6 != nil {
            for (i, f) in guest.forwards.enumerated() {
                if let family = f.spec.hostAddress?.family, guest.address(family) == nil {
                    problem("\(path).forwards[\(i)]",
                            "\(f.spec) is bound to an \(family.label) host address, but this guest has no \(family.addressKey)")
                }
            }
        }
        return problems.count == before ? guest : nil
    }

    /// A forward is `"SPEC"` or `{ spec = "SPEC", sources = [...] }`. Its own sources replace the guest's.
    private mutating func parseForward(_ value: TOML.Value, path makePath: () -> String, guestSources: [Network]) -> Forward? {
        if let s = value.string {
            do { return Forward(spec: try PortSpec.parse(s), sources: guestSources) } catch {
                problem(makePath(), error.message, at: value)
                return nil
            }
        }
        let path = makePath()
        guard let table = value.table else {
            problem(path, "must be a port spec string or { spec = \"...\", sources = [...] }")
            return nil
        }
        var spec: PortSpec?
        var sources: [Network]?
        for key in table.keys {
            let keyPath = "\(path).\(Self.shown(key))"
            let item = table[key]!
            switch key {
            case "spec":
                guard let s = string(item, keyPath) else { break }
                do { spec = try PortSpec.parse(s) } catch { problem(keyPath, error.message, at: item) }
            case "sources": sources = self.sources(item, keyPath)
            default: problem(keyPath, Self.unknown(key, in: ["spec", "sources"]) + " (expected spec or sources)", at: item)
            }
        }
        guard let spec else {
            if !table.keys.contains("spec") { problem(path, "missing spec") }
            return nil
        }
        return Forward(spec: spec, sources: sources ?? guestSources)
    }

    private mutating func checkDuplicateGuests(_ guests: [GuestConfig]) {
        var seen: [String: String] = [:]
        for guest in guests {
            let key = guest.uuid.map { "uuid \($0)" } ?? guest.name.map { "name \($0)" } ?? guest.path
            if let first = seen[key] {
                problem(guest.path, "same domain \(key) as \(first); merge the two [[guest]] tables")
            } else {
                seen[key] = guest.path
            }
        }
    }

    // MARK: - typed values

    private mutating func sources(_ value: TOML.Value, _ path: String) -> [Network]? {
        guard let array = value.array else { problem(path, "must be an array of networks like \"203.0.113.0/24\""); return nil }
        var networks: [Network] = []
        for (i, item) in array.enumerated() {
            guard let s = item.string else { problem("\(path)[\(i)]", "must be a string"); continue }
            do { networks.append(try Network.parse(s)) } catch { problem("\(path)[\(i)]", error.message, at: item) }
        }
        if networks.isEmpty && array.count == 0 {
            problem(path, "is empty, which would allow nobody; remove the key to allow everyone")
        }
        return networks
    }

    private mutating func address(_ value: TOML.Value, _ path: String, _ family: Family) -> IPAddress? {
        guard let s = string(value, path) else { return nil }
        guard let a = IPAddress(s), a.family == family else {
            problem(path, "'\(s)' is not an \(family.label) address", at: value)
            return nil
        }
        if let refusal = a.guestRefusal {
            problem(path, "\(refusal), which cannot be a guest address", at: value)
            return nil
        }
        return a
    }

    private mutating func string(_ value: TOML.Value, _ path: String) -> String? {
        if let s = value.string { return s }
        problem(path, "must be a string")
        return nil
    }

    private mutating func bool(_ value: TOML.Value, _ path: String) -> Bool? {
        if let b = value.bool { return b }
        problem(path, "must be true or false")
        return nil
    }

    private mutating func enumValue<E: RawRepresentable & CaseIterable>(_ value: TOML.Value, _ path: String, _: E.Type) -> E?
    where E.RawValue == String {
        guard let s = string(value, path) else { return nil }
        if let e = E(rawValue: s) { return e }
        problem(path, "'\(s)' is not one of \(E.allCases.map(\.rawValue).joined(separator: ", "))", at: value)
        return nil
    }

    private mutating func count(_ value: TOML.Value, _ path: String) -> Int? {
        guard let n = value.int, n >= 0 else { problem(path, "must be a whole number, 0 or more"); return nil }
        return n
    }

    /// Records a problem, with the line of the value it is about: what an admin's editor jumps to.
    private mutating func problem(_ path: String, _ reason: String, at value: TOML.Value? = nil) {
        let location = value.map { "line \($0.line): \(path)" } ?? path
        // A reason quotes the value it refuses, and a value can be megabytes long.
        let reason = reason.utf8.count > 400 ? String(decoding: reason.utf8.prefix(400), as: UTF8.self) + "…" : reason
        problems.append(ConfigProblem(file: file, location: location, reason: reason))
    }

    static let settingsKeys = ["backend", "admission", "mark", "hairpin", "host-access", "metadata", "metadata-host-ports", "metadata-address",
                               "metadata-max-forwards", "metadata-max-ports", "floating-addresses", "isolated-forwards",
                               "prometheus-textfile"]
    static let guestKeys = ["name", "uuid", "address", "address6", "sources", "forwards"]

    /// "unknown key", and the nearest known one: a typo like `adress` gets its fix.
    static func unknown(_ key: String, in known: [String]) -> String {
        // No known key is longer than 21 characters: a longer one is no typo of it, and the
        // edit distance would cost its length times theirs.
        guard key.utf8.count <= 64 else { return "unknown key" }
        return "unknown key" + (Suggestion.nearest(key, in: known).map { "; did you mean '\($0)'?" } ?? "")
    }

    /// A key as it stands in a key path of a message: cut short, so that a ten-megabyte key
    /// makes one short line.
    static func shown(_ key: String) -> String {
        key.utf8.count > 64 ? String(decoding: key.utf8.prefix(60), as: UTF8.self) + "…" : key
    }
}
