import Foundation
import Testing
import PortFwd
import PortFwdCore
import PortFwdSystem

/// The no-op triage may only say "nothing to do" when that is certain.
extension Triage {
    /// The tests' spelling: an operation by name, the XML as Data, no config file as nil.
    static func isNoOp(operation: String, guest: String, xml: Data, configText: String?, store: StateStore) -> Bool {
        isNoOp(operation: .named(operation), guest: guest, xml: [UInt8](xml), configText: configText ?? "", store: store)
    }
}

@Suite struct TriageTests {
    let state = TempDir()
    var store: StateStore { StateStore(directory: state.path) }
    let uuid = "0a0b0c0d-0000-4000-8000-000000000099"

    func xml(name: String = "plain", metadata: String = "") -> Data {
        Fixtures.domain(name: name, uuid: uuid, metadata: metadata)
    }

    @Test func guestAbsentFromConfigAndWithoutMetadataIsANoOp() {
        let config = "[[guest]]\nname = \"web1\"\nforwards = [\"80\"]\n"
        for op in ["prepare", "start", "reconnect", "attach", "stopped", "release", "started", "migrate", "whatever"] {
            #expect(Triage.isNoOp(operation: op, guest: "plain", xml: xml(), configText: config, store: store), "\(op)")
        }
        #expect(Triage.isNoOp(operation: "prepare", guest: "plain", xml: xml(), configText: nil, store: store))
    }

    @Test func anythingThatMightMatterTakesTheFullPath() throws {
        let none = "[[guest]]\nname = \"web1\"\n"
        // Named in the config, by name or by (differently cased) uuid.
        #expect(!Triage.isNoOp(operation: "prepare", guest: "plain", xml: xml(), configText: "name = \"plain\"", store: store))
        #expect(!Triage.isNoOp(operation: "start", guest: "plain", xml: xml(), configText: "uuid = \"\(uuid.uppercased())\"", store: store))
        // Metadata in our namespace.
        let meta = "<forwards xmlns='urn:libvirt-portfwd:1'><forward spec='80'/></forwards>"
        #expect(!Triage.isNoOp(operation: "prepare", guest: "plain", xml: xml(metadata: meta), configText: none, store: store))
        // A name TOML could spell with escapes.
        #expect(!Triage.isNoOp(operation: "prepare", guest: "café", xml: xml(), configText: none, store: store))
        // No readable uuid.
        #expect(!Triage.isNoOp(operation: "prepare", guest: "plain", xml: Data("<domain/>".utf8), configText: none, store: store))
        // A record from an earlier start: stop and reconnect must handle it.
        try store.save(RunningGuest(uuid: try DomainUUID(uuid), name: try GuestName("plain"), address4: IPAddress("192.168.122.10")))
        for op in ["stopped", "release", "reconnect", "prepare"] {
            #expect(!Triage.isNoOp(operation: op, guest: "plain", xml: xml(), configText: none, store: store), "\(op)")
        }
    }

    /// When the file does not parse, the hook falls back to the config as it last applied: a
    /// guest only that one names may have forwards, so its events take the full path.
    @Test func aGuestOnlyTheConfigAsLastAppliedNamesTakesTheFullPath() throws {
        let broken = "[[guest]\nname = \"other\"\n"
        #expect(Triage.isNoOp(operation: "start", guest: "plain", xml: xml(), configText: broken, store: store))
        let applied = ConfigFiles([ConfigFiles.File(path: "/etc/libvirt/portfwd.toml", text: "[[guest]]\nname = \"plain\"\nforwards = [\"80\"]\n")])
        try store.setLastConfig(applied.bundle)
        for op in ["prepare", "start", "reconnect"] {
            #expect(!Triage.isNoOp(operation: op, guest: "plain", xml: xml(), configText: broken, store: store), "\(op)")
        }
    }

    /// Property: whenever the full parser gives a guest forwards, the fast path does not say
    /// "no forwards" — over escapes, quoting styles and TOML forms (hardening, class 6).
    @Test func theFastPathNeverContradictsTheParser() throws {
        let name = "web1"
        let spellings = [
            "\"web1\"", "'web1'", "\"\"\"web1\"\"\"", "'''web1'''", "\"w\\u0065b1\"", "\"\\u0077\\u0065\\u0062\\u0031\"", "\"w\\U00000065b1\"",
            "\"\"\"we\\\n   b1\"\"\"", "\"\"\"\\\n  web1\"\"\"",
        ]
        let forms: [(String) -> String] = [
            { "[[guest]]\nname = \($0)\nforwards = [\"8080:80\"]\n" },
            { "[[guest]]\n  name   =   \($0)  # the web server\nforwards = ['8080:80']\n" },
            { "guest = [ { name = \($0), forwards = [\"8080:80\"] } ]\n" },
            { "[[guest]]\nforwards = [\"8080:80\"]\nname = \($0)\n" },
            { "[settings]\nhairpin = true\n\n[[guest]]\n\"name\" = \($0)\nforwards = [\"8080:80\"]\n" },
        ]
        var checked = 0
        for spelling in spellings {
            for form in forms {
                let text = form(spelling)
                guard let config = try? Config.parse(text), let entry = config.guest(named: try GuestName(name), uuid: nil),
                      !entry.forwards.isEmpty else { continue }
                checked += 1
                for op in ["prepare", "start", "reconnect"] {
                    #expect(!Triage.isNoOp(operation: op, guest: name, xml: xml(name: name), configText: text, store: store), "\(op): \(text)")
                }
            }
        }
        #expect(checked >= 30, "most spellings and forms parse; \(checked) did")
    }
}
