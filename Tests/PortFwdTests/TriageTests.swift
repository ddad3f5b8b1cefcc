import Foundation
import Testing
@testable import PortFwd

/// The no-op triage may only say "nothing to do" when that is certain.
@Suite struct TriageTests {
    let state = TempDir()
    var store: StateStore { StateStore(directory: state.path) }
    let uuid = "0a0b0c0d-0000-4000-8000-000000000099"

    func xml(metadata: String = "") -> Data {
        DomainFixtures.domain(name: "plain", uuid: uuid, metadata: metadata)
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
}
