import PortFwdCore

/// libvirt's own command-line client, for `forward add/remove/list`: the one place this tool
/// calls libvirt. Never from a hook, which would deadlock libvirtd.
///
/// A domain is named to virsh by its UUID only, found first by exact name in `virsh list`:
/// a name goes through virsh's own lookup (id, then UUID, then name) and its option parser
/// never, so a domain called `--help`, `7` or another domain's UUID is never another domain.
/// virsh runs with LC_ALL=C, and its errors are told apart by their first line.
public struct Virsh: Sendable {
    let commands: CommandRunner
    let uri: String

    public init(commands: CommandRunner = ProcessRunner(), uri: String = "qemu:///system") {
        self.commands = commands
        self.uri = uri
    }

    /// A defined domain: its UUID and its exact name.
    public struct Ref: Sendable, Equatable {
        public let uuid: DomainUUID
        public let name: GuestName
    }

    /// Which of a domain's two definitions: the persistent one, or the running one's.
    public enum Definition: String, Sendable, CaseIterable {
        case config, live
    }

    func result(_ arguments: [String]) throws(PortFwdError) -> CommandResult {
        try commands.run(["env", "LC_ALL=C", "virsh", "-q", "-c", uri] + arguments, input: nil)
    }

    func run(_ arguments: [String]) throws(PortFwdError) -> String {
        let r = try result(arguments)
        guard r.status == 0 else { throw PortFwdError(.io, "virsh \(arguments.first ?? ""): \(Self.firstLine(r))") }
        return r.stdout
    }

    static func firstLine(_ r: CommandResult) -> String {
        let line = r.stderr.split(whereSeparator: \.isNewline).first.map(String.init) ?? "exit status \(r.status)"
        return line.hasPrefix("error: ") ? String(line.dropFirst(7)) : line
    }

    /// Every defined domain, from `virsh list --all --uuid --name` ("UUID NAME" per line).
    public func domains() throws(PortFwdError) -> [Ref] {
        var refs: [Ref] = []
        // Split by bytes: as Characters, a name starting with a combining mark would merge
        // with the space before it, and the domain would vanish from the list.
        for line in try run(["list", "--all", "--uuid", "--name"]).utf8.split(separator: 0x0A) {
            guard let space = line.firstIndex(of: 0x20), let uuid = try? DomainUUID(String(decoding: line[..<space], as: UTF8.self)),
                  let name = try? GuestName(String(decoding: line[line.index(after: space)...], as: UTF8.self)) else { continue }
            refs.append(Ref(uuid: uuid, name: name))
        }
        return refs
    }

    /// The domain with this UUID or with exactly this name (byte for byte). When the word is
    /// one domain's UUID and another's name, it is refused: an admin asked to "add a port to
    /// my guest ab37..." must not edit the guest whose UUID that is.
    public func find(_ domain: String) throws(PortFwdError) -> Ref {
        let all = try domains()
        let byUUID = (try? DomainUUID(domain)).flatMap { uuid in all.first { $0.uuid == uuid } }
        let byName = (try? GuestName(domain)).flatMap { name in all.first { $0.name == name } }
        if let byUUID, let byName, byUUID != byName {
            throw PortFwdError(.invalidInput, "'\(LogText.line(domain))' is the UUID of domain \(byUUID.name) and the name of domain \(byName.uuid); "
                + "name the one you mean by its UUID")
        }
        guard let ref = byUUID ?? byName else {
            throw PortFwdError(.notFound, "no domain is named '\(LogText.line(domain))' (virsh list --all shows them)")
        }
        return ref
    }

    /// Whether the domain runs (running, paused, ...: anything but shut off).
    public func isActive(_ ref: Ref) throws(PortFwdError) -> Bool {
        try run(["domid", "--domain=\(ref.uuid)"]).trimmed != "-"
    }

    /// Our metadata element of one definition; nil when there is none.
    public func metadata(_ ref: Ref, _ definition: Definition) throws(PortFwdError) -> RunningGuest.Metadata? {
        let r = try result(["metadata", "--domain=\(ref.uuid)", "--uri=\(Domain.namespace)", "--\(definition.rawValue)"])
        guard r.status == 0 else {
            let reason = Self.firstLine(r)
            if reason.hasPrefix("metadata not found") { return nil }
            throw PortFwdError(.io, "virsh metadata: \(reason)")
        }
        // libvirt 11 answers a missing element with nothing at all.
        guard r.stdout.contains("<") else { return nil }
        // virsh prints the element without its namespace; read it as ours.
        let text = r.stdout.replacingFirst("<forwards", with: "<forwards xmlns=\"\(Domain.namespace)\"")
        return try Domain.parseMetadata(try XMLParser.parse(Array(text.utf8)))
    }

    /// Writes our metadata element into one definition; nil or empty removes it.
    public func setMetadata(_ ref: Ref, _ definition: Definition, _ metadata: RunningGuest.Metadata?) throws(PortFwdError) {
        var arguments = ["metadata", "--domain=\(ref.uuid)", "--uri=\(Domain.namespace)", "--\(definition.rawValue)"]
        if let metadata, !metadata.isEmpty {
            arguments += ["--key=portfwd", "--set=\(MetadataXML.render(metadata))"]
        } else {
            arguments += ["--remove"]
        }
        _ = try run(arguments)
    }
}
