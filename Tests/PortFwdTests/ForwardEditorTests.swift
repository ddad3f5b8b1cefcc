import Foundation
import Testing
import PortFwd
import PortFwdCore
import PortFwdSystem

/// libvirt as `forward add` sees it through virsh: domains with a persistent and a live
/// metadata element. A `--live` write also rewrites the domain's status file, as libvirtd does,
/// so the reconcile that follows sees the running guest's new metadata.
final class FakeVirsh: CommandRunner, @unchecked Sendable {
    struct Domain {
        var uuid: String
        var active: Bool
        var config: String?
        var live: String?
    }

    private(set) var domains: [String: Domain] = [:]
    let tree: TempDir

    init(tree: TempDir) { self.tree = tree }

    func define(_ name: String, uuid: String, active: Bool) {
        domains[name] = Domain(uuid: uuid, active: active)
        if active { writeStatus(name) }
    }

    func statusFile(_ name: String) -> String {
        (try? String(contentsOfFile: "\(tree.path)/run/libvirt/qemu/\(name).xml", encoding: .utf8)) ?? ""
    }

    private func writeStatus(_ name: String) {
        let d = domains[name]!
        // virsh prints and takes our element without its namespace; the domain XML carries it.
        let metadata = d.live?.replacingFirst("<forwards", with: "<forwards xmlns='\(PortFwdCore.Domain.namespace)'") ?? ""
        let xml = String(decoding: Fixtures.domain(name: name, uuid: d.uuid, metadata: metadata, interfaces: Fixtures.interface()), as: UTF8.self)
        tree.write("run/libvirt/qemu/\(name).xml", "<domstatus state='running' reason='booted' pid='4242'>\n\(xml)\n</domstatus>\n")
    }

    /// virsh's grammar as the tool uses it: `env LC_ALL=C virsh -q -c URI COMMAND --opt=value ...`.
    func run(_ argv: [String], input: String?) throws(PortFwdError) -> CommandResult {
        guard argv.starts(with: ["env", "LC_ALL=C", "virsh", "-q", "-c"]) else {
            return CommandResult(status: 1, stdout: "", stderr: "error: the fake takes only the tool's form of virsh, not \(argv)")
        }
        let a = Array(argv.dropFirst(6))
        func ok(_ text: String) -> CommandResult { CommandResult(status: 0, stdout: text, stderr: "") }
        func option(_ name: String) -> String? { a.first { $0.hasPrefix("--\(name)=") }.map { String($0.dropFirst(name.count + 3)) } }
        if a == ["list", "--all", "--uuid", "--name"] {
            return ok(domains.keys.sorted().map { "\(domains[$0]!.uuid) \($0)" }.joined(separator: "\n") + "\n")
        }
        // The tool names domains by UUID only.
        guard let uuid = option("domain"), let name = domains.first(where: { $0.value.uuid == uuid })?.key, var d = domains[name] else {
            return CommandResult(status: 1, stdout: "", stderr: "error: failed to get domain '\(option("domain") ?? "")'")
        }
        switch a[0] {
        case "domid": return ok(d.active ? "1\n" : "-\n")
        case "metadata":
            let live = a.contains("--live")
            guard live != a.contains("--config"), option("uri") == PortFwdCore.Domain.namespace else {
                return CommandResult(status: 1, stdout: "", stderr: "error: the fake wants one of --live or --config, and our namespace")
            }
            if live && !d.active { return CommandResult(status: 1, stdout: "", stderr: "error: Requested operation is not valid: domain is "
                + "not running") }
            if let value = option("set") {
                if live { d.live = value } else { d.config = value }
            } else if a.contains("--remove") {
                if live { d.live = nil } else { d.config = nil }
            } else {
                guard let text = live ? d.live : d.config else {
                    return CommandResult(status: 1, stdout: "", stderr: "error: metadata not found: Requested metadata element is not present")
                }
                return ok(text + "\n")
            }
            domains[name] = d
            if live { writeStatus(name) }
            return ok("")
        default:
            return CommandResult(status: 1, stdout: "", stderr: "error: the fake knows no \(a[0])")
        }
    }

    /// Sets the live metadata only, as `virsh metadata --live` does.
    func setLive(_ name: String, _ metadata: String?) {
        domains[name]!.live = metadata
        writeStatus(name)
    }
}

@Suite struct ForwardEditorTests {
    let host = FakeHost()
    let now = Date(timeIntervalSince1970: 1_900_000_000)

    var dnat: [String] { host.nft.elements("dnat4_any") }

    func forward(_ spec: String) throws -> PortFwdCore.Forward {
        PortFwdCore.Forward(spec: try PortSpec.parse(spec), sources: [], origin: .metadata)
    }

    var dropIns: String { "\(host.state.path)/portfwd.d" }

    /// An editor on the config `toml` and whatever the drop-in directory holds, read again on
    /// every reload, as the command line does.
    func editor(_ virsh: FakeVirsh, _ toml: String = "") throws -> ForwardEditor {
        let host = self.host, now = self.now, dir = dropIns
        let load = { @Sendable () throws(PortFwdError) -> Reconciler in
            var files = [ConfigFiles.File(path: "c.toml", text: toml)]
            for path in try ConfigFile.dropIns(in: dir) {
                files.append(ConfigFiles.File(path: path, text: (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""))
            }
            let config = try ConfigFiles(files).parse()
            return Reconciler(config: config, configText: ConfigFiles(files).bundle, store: host.store, libvirt: host.libvirt,
                              host: host.host(), clock: { now })
        }
        return ForwardEditor(reconciler: try load(), virsh: Virsh(commands: virsh), dropIn: DropIn(directory: dir), reload: load)
    }

    /// An add to a running guest is written to libvirt and installed; when the install then
    /// fails, the metadata goes back in both definitions, and the rules and the records are
    /// exactly as they were.
    @Test func aFailedApplyPutsTheMetadataBackAndChangesNothing() throws {
        let virsh = FakeVirsh(tree: host.tree)
        virsh.define("web1", uuid: Fixtures.web1UUID, active: true)
        let editor = try self.editor(virsh)

        #expect(try editor.apply(.add(forward("8080:80"), address: nil), to: "web1").outcome != nil)
        #expect(dnat == ["tcp . 8080 : 192.168.122.10 . 80"])
        #expect(virsh.domains["web1"]?.config?.contains("8080:80") == true)

        let before = (host.dump, virsh.domains["web1"]?.config, virsh.domains["web1"]?.live, virsh.statusFile("web1"))
        host.nft.failMutation = host.nft.mutationCount
        do {
            _ = try editor.apply(.add(forward("9090:90"), address: nil), to: "web1")
            Issue.record("the add succeeded although the install failed")
        } catch {
            #expect((error as? PortFwdError)?.message.hasSuffix("; the metadata was put back") == true, "\(error)")
        }
        #expect(host.dump == before.0)
        #expect(virsh.domains["web1"]?.config == before.1)
        #expect(virsh.domains["web1"]?.live == before.2)
        #expect(virsh.statusFile("web1") == before.3)
        #expect(dnat == ["tcp . 8080 : 192.168.122.10 . 80"])
    }

    /// The live definition can hold metadata the persistent one does not (`virsh metadata
    /// --live`): an add edits each definition on its own, and a failure puts each back as it was.
    @Test func liveOnlyMetadataSurvivesAnAddAndItsRollback() throws {
        let virsh = FakeVirsh(tree: host.tree)
        virsh.define("web1", uuid: Fixtures.web1UUID, active: true)
        virsh.setLive("web1", "<forwards><forward spec=\"7070:70/tcp\"/></forwards>")
        let editor = try self.editor(virsh)
        #expect(try editor.apply(.add(forward("8080:80"), address: nil), to: "web1").outcome != nil)
        #expect(virsh.domains["web1"]?.live == "<forwards><forward spec=\"7070:70/tcp\"/><forward spec=\"8080:80/tcp\"/></forwards>")
        #expect(virsh.domains["web1"]?.config == "<forwards><forward spec=\"8080:80/tcp\"/></forwards>")
        #expect(dnat == ["tcp . 7070 : 192.168.122.10 . 70", "tcp . 8080 : 192.168.122.10 . 80"])

        let before = (virsh.domains["web1"]?.config, virsh.domains["web1"]?.live)
        host.nft.failMutation = host.nft.mutationCount
        #expect(throws: PortFwdError.self) { try editor.apply(.add(forward("9090:90"), address: nil), to: "web1") }
        #expect(virsh.domains["web1"]?.config == before.0)
        #expect(virsh.domains["web1"]?.live == before.1)
        host.nft.failMutation = nil
        // remove takes it out of whichever definition holds it.
        #expect(try editor.apply(.remove(try PortSpec.parse("7070:70")), to: "web1").outcome != nil)
        #expect(virsh.domains["web1"]?.live == "<forwards><forward spec=\"8080:80/tcp\"/></forwards>")
        #expect(dnat == ["tcp . 8080 : 192.168.122.10 . 80"])
    }

    /// Port 443 is outside the metadata fence: the admin's one command stores it in the config's
    /// drop-in instead, says where and why, and applies it; the file parses back to the entry;
    /// a failed apply puts the file back; remove takes it out again.
    @Test func aPortOutsideTheFenceGoesToTheConfigsDropIn() throws {
        let virsh = FakeVirsh(tree: host.tree)
        virsh.define("web1", uuid: Fixtures.web1UUID, active: true)
        let result = try editor(virsh).apply(.add(forward("443:80"), address: nil), to: "web1")
        #expect(result.storedIn == "\(dropIns)/web1.toml")
        #expect(result.why == "metadata forward 443:80/tcp uses host ports outside settings.metadata-host-ports (1024-65535); forwards in the config "
            + "file may use any port")
        #expect(dnat == ["tcp . 443 : 192.168.122.10 . 80"])
        let text = try String(contentsOfFile: "\(dropIns)/web1.toml", encoding: .utf8)
        #expect(text.hasPrefix(DropIn.header) && text.hasSuffix("[[guest]]\nname = \"web1\"\nuuid = \"\(Fixtures.web1UUID)\"\nforwards = [\n  "
            + "\"443:80/tcp\",\n]\n"), "\(text)")
        #expect(virsh.domains["web1"]?.config == nil, "the metadata is untouched")
        // Root's to read: it names the guest, its ports and the clients allowed in.
        let file = try FileManager.default.attributesOfItem(atPath: "\(dropIns)/web1.toml")
        let directory = try FileManager.default.attributesOfItem(atPath: dropIns)
        #expect((file[.posixPermissions] as? Int).map { $0 & 0o007 } == 0, "\(file)")
        #expect((directory[.posixPermissions] as? Int).map { $0 & 0o007 } == 0, "\(directory)")
        // An apply that fails puts the file back as it was.
        host.nft.failMutation = host.nft.mutationCount
        #expect(throws: PortFwdError.self) { try editor(virsh).apply(.add(forward("8443:80"), address: nil), to: "web1", in: .config) }
        #expect(try String(contentsOfFile: "\(dropIns)/web1.toml", encoding: .utf8) == text)
        host.nft.failMutation = nil
        // --in metadata keeps the fence.
        #expect(throws: PortFwdError.self) { try editor(virsh).apply(.add(forward("444:80"), address: nil), to: "web1", in: .metadata) }
        _ = try editor(virsh).apply(.remove(try PortSpec.parse("443:80")), to: "web1")
        #expect(!FileManager.default.fileExists(atPath: "\(dropIns)/web1.toml"))
        #expect(dnat.isEmpty)
    }

    /// A drop-in the admin wrote by hand is theirs: never rewritten.
    @Test func aHandWrittenDropInIsNeverRewritten() throws {
        let virsh = FakeVirsh(tree: host.tree)
        virsh.define("web1", uuid: Fixtures.web1UUID, active: false)
        try FileManager.default.createDirectory(atPath: dropIns, withIntermediateDirectories: true)
        try "[[guest]]\nname = \"web1\"\nforwards = [\"8080:80\"]\n".write(toFile: "\(dropIns)/web1.toml", atomically: true, encoding: .utf8)
        #expect(throws: PortFwdError.self) { try editor(virsh).apply(.add(forward("443:80"), address: nil), to: "web1") }
        #expect(try String(contentsOfFile: "\(dropIns)/web1.toml", encoding: .utf8) == "[[guest]]\nname = \"web1\"\nforwards = [\"8080:80\"]\n")
    }

    /// A domain is found by its exact name, or its UUID, and never by virsh's own lookup: a
    /// name like an option, a number or another domain's UUID is never another domain.
    @Test func domainsAreFoundByExactNameOrUUIDOnly() throws {
        let virsh = FakeVirsh(tree: host.tree)
        virsh.define("victim", uuid: Fixtures.web1UUID, active: false)
        virsh.define("--help", uuid: Fixtures.web2UUID, active: false)
        let v = Virsh(commands: virsh)
        #expect(try v.find("--help").uuid.value == Fixtures.web2UUID)
        #expect(try v.find(Fixtures.web1UUID.uppercased()).name.value == "victim")
        for name in ["victim ", " victim", "Victim", "--domain=victim", "vict\u{0}im"] {
            #expect(throws: PortFwdError.self, "\(name.debugDescription)") { try v.find(name) }
        }
        // A domain named like another's UUID: which one is meant cannot be told, so neither.
        virsh.define(Fixtures.web1UUID, uuid: "0a0b0c0d-0000-4000-8000-0000000000ff", active: false)
        #expect(throws: PortFwdError(.invalidInput, "'\(Fixtures.web1UUID)' is the UUID of domain victim and the name of domain "
            + "0a0b0c0d-0000-4000-8000-0000000000ff; name the one you mean by its UUID")) {
            try v.find(Fixtures.web1UUID)
        }
    }
}

/// Drop-ins are root's, but the names that choose them are guest owners': whoever names their
/// domain cannot make root's `forward add` or `forward remove` land on another guest, and an
/// entry pinned to a domain by UUID is that domain's alone. (From an attack on the first cut.)
extension ForwardEditorTests {
    static let victim = "11111111-2222-4333-8444-555555555555", attacker = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"

    func forwards(_ config: Config, _ name: String, _ uuid: String) throws -> [String] {
        config.guest(named: try GuestName(name), uuid: try DomainUUID(uuid))?.forwards.map(\.spec.description) ?? []
    }

    /// A domain named after another domain's UUID does not get that domain's drop-in.
    @Test func aNameSpelledLikeAnotherGuestsUUIDGetsItsOwnDropIn() throws {
        let virsh = FakeVirsh(tree: host.tree)
        virsh.define("my web", uuid: Self.victim, active: false)      // not a plain word: its file is named by UUID
        virsh.define(Self.victim, uuid: Self.attacker, active: false)  // the attacker's name is the victim's UUID
        _ = try editor(virsh).apply(.add(forward("443"), address: nil), to: "my web", in: .config)
        let added = try editor(virsh).apply(.add(forward("8443"), address: nil), to: Self.attacker, in: .config)
        #expect(added.storedIn == "\(dropIns)/\(Self.attacker).toml")
        var config = try editor(virsh).reconciler.config
        #expect(try forwards(config, "my web", Self.victim) == ["443:443/tcp"])
        #expect(try forwards(config, Self.victim, Self.attacker) == ["8443:8443/tcp"])
        #expect(throws: PortFwdError.self) { try editor(virsh).apply(.remove(try PortSpec.parse("443")), to: Self.attacker) }
        config = try editor(virsh).reconciler.config
        #expect(try forwards(config, "my web", Self.victim) == ["443:443/tcp"], "the victim's forward stays")
    }

    /// A drop-in named after a domain that another guest's entry occupies is not edited: the
    /// domain gets the file named after its UUID.
    @Test func aDropInHoldingAnotherGuestsEntryIsLeftAlone() throws {
        let virsh = FakeVirsh(tree: host.tree)
        virsh.define("web", uuid: Self.victim, active: false)
        _ = try editor(virsh).apply(.add(forward("443"), address: nil), to: "web", in: .config)
        // The victim is renamed; the attacker takes the name.
        let renamed = FakeVirsh(tree: host.tree)
        renamed.define("web-old", uuid: Self.victim, active: false)
        renamed.define("web", uuid: Self.attacker, active: false)
        let added = try editor(renamed).apply(.add(forward("8443"), address: nil), to: "web", in: .config)
        #expect(added.storedIn == "\(dropIns)/\(Self.attacker).toml")
        let config = try editor(renamed).reconciler.config
        #expect(try forwards(config, "web-old", Self.victim) == ["443:443/tcp"])
        #expect(try forwards(config, "web", Self.attacker) == ["8443:8443/tcp"])
    }

    /// What forward add writes is pinned by UUID: a later domain that bears the name does not
    /// inherit root's port 22 and the address given for the first.
    @Test func forwardAddPinsItsEntryToTheDomain() throws {
        let virsh = FakeVirsh(tree: host.tree)
        virsh.define("web", uuid: Self.victim, active: false)
        _ = try editor(virsh).apply(.add(forward("22"), address: IPAddress("192.168.122.10")), to: "web")
        let config = try editor(virsh).reconciler.config
        #expect(try forwards(config, "web", Self.victim) == ["22:22/tcp"])
        #expect(try forwards(config, "web", Self.attacker).isEmpty)
        #expect(config.guest(named: try GuestName("web"), uuid: try DomainUUID(Self.attacker))?.address4 == nil)
    }

    /// Across files, an entry pinned by UUID and a name-only one stay two entries: the name-only
    /// one is for whichever domain bears the name, the pinned one for its domain alone; the
    /// domain both match gets the forwards of both, neither hiding the other.
    @Test(arguments: [false, true])
    func aPinnedEntryAndANameOnlyOneStayApart(pinnedInMain: Bool) throws {
        let named = "[[guest]]\nname = \"web\"\nforwards = [\"8080:80\"]\n"
        let pinned = "[[guest]]\nname = \"web\"\nuuid = \"\(Self.victim)\"\nforwards = [\"22\"]\n"
        let files = [ConfigFiles.File(path: "/etc/libvirt/portfwd.toml", text: pinnedInMain ? pinned : named),
                     ConfigFiles.File(path: "/etc/libvirt/portfwd.d/web.toml", text: pinnedInMain ? named : pinned)]
        let config = try ConfigFiles(files).parse()
        #expect(try forwards(config, "web", Self.attacker) == ["8080:80/tcp"])
        #expect(try forwards(config, "web", Self.victim) == ["22:22/tcp", "8080:80/tcp"])
        #expect(try forwards(config, "web-old", Self.victim) == ["22:22/tcp"])
    }

    /// Settings belong in the main file however a drop-in spells them.
    @Test(arguments: ["[ settings ]\nmetadata = false\n", "settings.metadata = false\n", "settings = { metadata = false }\n",
                      "\t[settings]\nmetadata=false\n", "[\"settings\"]\nmetadata = false\n"])
    func settingsInADropInAreRefused(text: String) throws {
        let error = expectError(PortFwdError.self) {
            try ConfigFiles([.init(path: "/m.toml", text: ""), .init(path: "/d/x.toml", text: text)]).parse()
        }
        #expect(error?.message == "/d/x.toml: [settings] belong in /m.toml")
    }

    /// A drop-in's name goes into messages and into the bundle of the config as applied: one
    /// that is not a plain name is refused, naming it, and never read.
    @Test func aDropInWithAnOddNameIsRefused() throws {
        let dir = TempDir()
        dir.write("portfwd.d/web1.toml", "[[guest]]\nname = \"web1\"\nforwards = [\"80\"]\n")
        dir.write("portfwd.d/z\n[[guest]]\nname = \"injected\"\nforwards = [\"23\"]\n#.toml", "")
        let error = expectError(PortFwdError.self) { _ = try ConfigFile.dropIns(in: "\(dir.path)/portfwd.d") }
        #expect(error?.message.hasSuffix(": not read: a drop-in's name is letters, digits and ._+@:- ending in .toml") == true)
        #expect(error?.lines.count == 1)
        try FileManager.default.removeItem(atPath: "\(dir.path)/portfwd.d/z\n[[guest]]\nname = \"injected\"\nforwards = [\"23\"]\n#.toml")
        #expect(try ConfigFile.dropIns(in: "\(dir.path)/portfwd.d") == ["\(dir.path)/portfwd.d/web1.toml"])
        // Writable by others: refused, as the state directory would be.
        chmod("\(dir.path)/portfwd.d/web1.toml", 0o666)
        #expect(throws: PortFwdError.self) { _ = try ConfigFile.read(path: "\(dir.path)/portfwd.d/web1.toml", required: true, trust: .strict) }
        chmod("\(dir.path)/portfwd.d", 0o777)
        #expect(throws: PortFwdError.self) { _ = try ConfigFile.dropIns(in: "\(dir.path)/portfwd.d") }
    }

    /// A guest that once bore a name is another guest: forward add for the domain that bears
    /// it now is checked against its forwards (a third attack found it skipped by name).
    @Test func aFormerBearerOfTheNameIsStillAnotherGuest() throws {
        let virsh = FakeVirsh(tree: host.tree)
        virsh.define("web", uuid: Self.victim, active: false)
        _ = try editor(virsh).apply(.add(forward("443:80"), address: IPAddress("192.168.122.10")), to: "web", in: .config)
        let later = FakeVirsh(tree: host.tree)
        later.define("web-old", uuid: Self.victim, active: false)
        later.define("web", uuid: Self.attacker, active: false)
        let error = expectError(PortFwdError.self) {
            _ = try editor(later).apply(.add(forward("443:8443"), address: IPAddress("192.168.122.66")), to: "web", in: .config)
        }
        #expect(error?.code == .conflict, "\(String(describing: error))")
        #expect(try forwards(try editor(later).reconciler.config, "web", Self.attacker).isEmpty)
    }

    /// A file of several entries was edited by hand: forward add does not rewrite it with one
    /// (which would erase the others); the domain's forward goes to its own UUID file.
    @Test func aDropInOfSeveralEntriesIsNotRewritten() throws {
        let virsh = FakeVirsh(tree: host.tree)
        virsh.define("web", uuid: Self.victim, active: false)
        virsh.define("db", uuid: Self.attacker, active: false)
        let text = DropIn.header + "[[guest]]\nname = \"web\"\nuuid = \"\(Self.victim)\"\nforwards = [\"22\"]\n"
            + "[[guest]]\nname = \"db\"\nuuid = \"\(Self.attacker)\"\nforwards = [\"5432\"]\n"
        try FileManager.default.createDirectory(atPath: dropIns, withIntermediateDirectories: true)
        try text.write(toFile: "\(dropIns)/web.toml", atomically: true, encoding: .utf8)
        let added = try editor(virsh).apply(.add(forward("443"), address: nil), to: "web", in: .config)
        #expect(added.storedIn == "\(dropIns)/\(Self.victim).toml")
        #expect(try String(contentsOfFile: "\(dropIns)/web.toml", encoding: .utf8) == text)
        let config = try editor(virsh).reconciler.config
        #expect(try forwards(config, "db", Self.attacker) == ["5432:5432/tcp"])
        #expect(Set(try forwards(config, "web", Self.victim)) == ["22:22/tcp", "443:443/tcp"])
        // Two entries of the one guest in one file (by UUID, and by name): refused, not
        // collapsed into one.
        let two = DropIn.header + "[[guest]]\nuuid = \"\(Self.attacker)\"\nforwards = [\"1\"]\n[[guest]]\nname = \"db\"\nforwards = [\"2\"]\n"
        try two.write(toFile: "\(dropIns)/db.toml", atomically: true, encoding: .utf8)
        let error = expectError(PortFwdError.self) { _ = try editor(virsh).apply(.add(forward("3"), address: nil), to: "db", in: .config) }
        #expect(error?.message.contains("db.toml holds 2 [[guest]] entries") == true, "\(String(describing: error))")
        #expect(try String(contentsOfFile: "\(dropIns)/db.toml", encoding: .utf8) == two)
    }

    /// A file written by hand for another guest is that guest's: root is not sent to edit it,
    /// the domain gets its own file.
    @Test func aHandWrittenDropInOfAnotherGuestIsLeftAlone() throws {
        try FileManager.default.createDirectory(atPath: dropIns, withIntermediateDirectories: true)
        let text = "[[guest]]\nname = \"web\"\nuuid = \"\(Self.victim)\"\nforwards = [\"443\"]\n"
        try text.write(toFile: "\(dropIns)/web.toml", atomically: true, encoding: .utf8)
        let virsh = FakeVirsh(tree: host.tree)
        virsh.define("web-old", uuid: Self.victim, active: false)
        virsh.define("web", uuid: Self.attacker, active: false)
        let added = try editor(virsh).apply(.add(forward("8443"), address: nil), to: "web", in: .config)
        #expect(added.storedIn == "\(dropIns)/\(Self.attacker).toml")
        #expect(try String(contentsOfFile: "\(dropIns)/web.toml", encoding: .utf8) == text)
    }

    /// virsh's list is split by bytes: a name that starts with a combining mark is still listed.
    @Test func aNameStartingWithACombiningMarkIsListed() throws {
        let virsh = FakeVirsh(tree: host.tree)
        virsh.define("\u{301}web", uuid: Self.attacker, active: false)
        virsh.define("other", uuid: Self.victim, active: false)
        let refs = try Virsh(commands: virsh).domains()
        #expect(Set(refs.map(\.uuid.value)) == [Self.attacker, Self.victim])
        #expect(try Virsh(commands: virsh).find("\u{301}web").uuid.value == Self.attacker)
    }
}

extension ForwardEditorTests {
    /// One guest's owner writes metadata that does not parse: `forward list` lists every other
    /// guest all the same and names that one, with why.
    @Test func oneGuestsBadMetadataHidesNoOtherGuest() throws {
        let virsh = FakeVirsh(tree: host.tree)
        virsh.define("web1", uuid: Fixtures.web1UUID, active: true)
        virsh.define("evil", uuid: Fixtures.web2UUID, active: true)
        virsh.setLive("web1", "<forwards><forward spec='8080:80'/></forwards>")
        virsh.setLive("evil", "<forwards><forward spec='not a spec'/></forwards>")
        let listed = try editor(virsh).list(nil)
        #expect(listed.rows.map { "\($0.guest) \($0.spec)" } == ["web1 8080:80/tcp"], "\(listed.rows)")
        #expect(listed.problems.count == 1 && listed.problems[0].hasPrefix("guest evil: its metadata forwards are not listed: "),
            "\(listed.problems)")
    }
}
