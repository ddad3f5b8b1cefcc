import Foundation
import Testing

/// The `hook qemu` command itself: stdin, config reading and the no-op triage in front of the library.
@Suite struct HookCommandTests {
    let dir = TempDir()
    let xml = "<domain><name>plain</name><uuid>0a0b0c0d-0000-4000-8000-000000000099</uuid></domain>"

    func hook(_ config: String, _ op: String = "prepare") -> Shell.Result {
        Shell.capture("\(Paths.binary) hook qemu --config \(config) --state-dir \(dir.path)/state -- plain \(op) begin -", input: xml)
    }

    @Test func guestTheConfigDoesNotNameIsLetThroughEvenIfTheConfigIsBroken() {
        dir.write("broken.toml", "[[guest]]\nname = = \"web1\"\n")
        let r = hook("\(dir.path)/broken.toml")
        #expect(r.status == 0 && r.stdout.isEmpty && r.stderr.isEmpty)
    }

    @Test func configThatIsNotTextIsAnErrorNotAnEmptyConfig() throws {
        try Data([0xff, 0xfe, 0x5b]).write(to: URL(fileURLWithPath: "\(dir.path)/binary.toml"))
        let r = hook("\(dir.path)/binary.toml")
        #expect(r.status == 1)
        #expect(r.stderr == "libvirt-portfwd: guest plain prepare: \(dir.path)/binary.toml: not UTF-8 text\n")
        #expect(r.stdout.isEmpty)
    }

    @Test func brokenConfigNamingTheGuestStopsItsStartWithOneLine() {
        dir.write("named.toml", "[[guest]]\nname = \"plain\"\nforwards = [\"0\"]\n")
        let r = hook("\(dir.path)/named.toml")
        #expect(r.status == 1)
        #expect(r.stderr.split(separator: "\n").count == 1)
        #expect(r.stderr.contains("bad port spec '0': port 0 is not allowed"))
        // stopped never fails, whatever the config.
        #expect(hook("\(dir.path)/named.toml", "stopped").status == 0)
    }

    /// The shims put options first and a `--` before libvirt's words; any other order of the
    /// same call must reach the same answer.
    @Test func everyArgumentShapeGivesTheSameAnswer() {
        dir.write("named.toml", "[[guest]]\nname = \"plain\"\nforwards = [\"0\"]\n")
        dir.write("other.toml", "[[guest]]\nname = \"web1\"\nforwards = [\"80\"]\n")
        let state = "\(dir.path)/state"
        for (config, status) in [("named.toml", Int32(1)), ("other.toml", 0)] {
            let path = "\(dir.path)/\(config)"
            let shapes = [
                "--config \(path) --state-dir \(state) -- plain prepare begin -",
                "--config=\(path) --state-dir=\(state) plain prepare begin -",
                "plain prepare begin - --config \(path) --state-dir \(state)",
                "--state-dir \(state) plain --config \(path) prepare begin -",
            ]
            for shape in shapes {
                let r = Shell.capture("\(Paths.binary) hook qemu \(shape)", input: xml)
                #expect(r.status == status, "\(config): \(shape): \(r.stderr)")
                #expect(r.stdout.isEmpty)
            }
            // The same through the environment, as libvirtd would run an admin's own wrapper.
            let r = Shell.capture("LIBVIRT_PORTFWD_CONFIG=\(path) LIBVIRT_PORTFWD_STATE_DIR=\(state) \(Paths.binary) hook qemu -- plain prepare begin -", input: xml)
            #expect(r.status == status, "\(config) from the environment: \(r.stderr)")
        }
    }
}
