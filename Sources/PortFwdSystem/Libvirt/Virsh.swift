import Foundation
import PortFwdCore

/// libvirt's own command-line client, for `forward add/remove/list`: the one place this tool
/// calls libvirt. Never from a hook, which would deadlock libvirtd.
public struct Virsh: Sendable {
    let commands: CommandRunner
    let uri: String

    public init(commands: CommandRunner = ProcessRunner(), uri: String = "qemu:///system") {
        self.commands = commands
        self.uri = uri
    }

    func run(_ arguments: [String]) throws(PortFwdError) -> String {
        let result = try commands.run(["virsh", "-q", "-c", uri] + arguments, input: nil)
        guard result.status == 0 else {
            let reason = result.reason.replacingOccurrences(of: "error: ", with: "")
            throw PortFwdError(reason.contains("failed to get domain") || reason.contains("Domain not found") ? .notFound : .io, "virsh \(arguments.first ?? ""): \(reason)")
        }
        return result.stdout
    }

    /// Whether the domain runs (running, paused, ...: anything but shut off).
    public func isActive(_ domain: String) throws(PortFwdError) -> Bool {
        try run(["domid", domain]).trimmingCharacters(in: .whitespacesAndNewlines) != "-"
    }

    public func uuid(_ domain: String) throws(PortFwdError) -> DomainUUID {
        let text = try run(["domuuid", domain]).trimmingCharacters(in: .whitespacesAndNewlines)
        return try DomainUUID(text)
    }

    /// `domain`: an id or UUID (virsh's domname takes no name).
    public func name(_ domain: String) throws(PortFwdError) -> GuestName {
        try GuestName(try run(["domname", domain]).trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// Every defined domain's name.
    public func domains() throws(PortFwdError) -> [String] {
        try run(["list", "--all", "--name"]).split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    /// Our metadata element of the persistent definition; nil when there is none.
    public func metadata(_ domain: String) throws(PortFwdError) -> RunningGuest.Metadata? {
        let result = try commands.run(["virsh", "-q", "-c", uri, "metadata", domain, Domain.namespace, "--config"], input: nil)
        guard result.status == 0 else {
            if result.stderr.contains("metadata not found") || result.stderr.contains("Requested metadata element is not present") { return nil }
            throw PortFwdError(.io, "virsh metadata: \(result.reason)")
        }
        // libvirt 11 answers a missing element with nothing at all.
        guard result.stdout.contains("<") else { return nil }
        // virsh prints the element without its namespace; read it as ours.
        let text = result.stdout.replacingFirst("<forwards", with: "<forwards xmlns=\"\(Domain.namespace)\"")
        let node = try XMLParser.parse(Data(text.utf8))
        return try Domain.parseMetadata(node)
    }

    /// Writes our metadata element into the persistent definition, and into the running
    /// domain too when `live`; nil removes it.
    public func setMetadata(_ domain: String, _ metadata: RunningGuest.Metadata?, live: Bool) throws(PortFwdError) {
        var arguments = ["metadata", domain, Domain.namespace, "--config"] + (live ? ["--live"] : [])
        if let metadata, !metadata.isEmpty {
            arguments += ["--key", "portfwd", "--set", MetadataXML.render(metadata)]
        } else {
            arguments += ["--remove"]
        }
        _ = try run(arguments)
    }
}
