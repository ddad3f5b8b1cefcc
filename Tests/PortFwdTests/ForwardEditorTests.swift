import Foundation
import Testing
@testable import PortFwd
@testable import PortFwdCore
@testable import PortFwdSystem

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

    func run(_ argv: [String], input: String?) throws(PortFwdError) -> CommandResult {
        let a = Array(argv.dropFirst(4))  // virsh -q -c URI
        func ok(_ text: String) -> CommandResult { CommandResult(status: 0, stdout: text, stderr: "") }
        if a.first == "list" { return ok(domains.keys.sorted().joined(separator: "\n") + "\n") }
        guard a.count > 1, let name = domains[a[1]] != nil ? a[1] : domains.first(where: { $0.value.uuid == a[1] })?.key,
              var d = domains[name] else {
            return CommandResult(status: 1, stdout: "", stderr: "error: failed to get domain '\(a.count > 1 ? a[1] : "")'")
        }
        switch a[0] {
        case "domid": return ok(d.active ? "1\n" : "-\n")
        case "domuuid": return ok(d.uuid + "\n")
        case "domname": return ok(name + "\n")
        case "metadata":
            let live = a.contains("--live")
            if let i = a.firstIndex(of: "--set") {
                d.config = a[i + 1]
                if live { d.live = a[i + 1] }
            } else if a.contains("--remove") {
                d.config = nil
                if live { d.live = nil }
            } else {
                guard let text = d.config else {
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
}

@Suite struct ForwardEditorTests {
    let host = FakeHost()
    let now = Date(timeIntervalSince1970: 1_900_000_000)

    var dnat: [String] { TableShape(rendered: host.nft.dump).sets["dnat4_any"] ?? [] }

    func forward(_ spec: String) throws -> PortFwdCore.Forward {
        PortFwdCore.Forward(spec: try PortSpec.parse(spec), sources: [], origin: .metadata)
    }

    /// An add to a running guest is written to libvirt and installed; when the install then
    /// fails, the metadata goes back in both definitions, and the rules and the records are
    /// exactly as they were.
    @Test func aFailedApplyPutsTheMetadataBackAndChangesNothing() throws {
        let virsh = FakeVirsh(tree: host.tree)
        virsh.define("web1", uuid: Fixtures.web1UUID, active: true)
        let editor = ForwardEditor(reconciler: try host.reconciler("", now: now), virsh: Virsh(commands: virsh))

        #expect(try editor.apply(.add(forward("8080:80")), to: "web1") != nil)
        #expect(dnat == ["tcp . 8080 : 192.168.122.10 . 80"])
        #expect(virsh.domains["web1"]?.config?.contains("8080:80") == true)

        let before = (host.dump, virsh.domains["web1"]?.config, virsh.domains["web1"]?.live, virsh.statusFile("web1"))
        host.nft.failMutation = host.nft.mutationCount
        do {
            _ = try editor.apply(.add(forward("9090:90")), to: "web1")
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
}
