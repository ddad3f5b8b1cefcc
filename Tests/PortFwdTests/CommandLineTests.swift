import Foundation
import Testing

/// The command-line grammar: usage errors are one line plus the usage and exit 64, and `--`
/// makes everything after it a positional argument (libvirt passes guest names through it).
@Suite struct CommandLineTests {
    let dir = TempDir()

    func run(_ arguments: String, input: String? = nil) -> Shell.Result {
        Shell.capture("\(Paths.binary) \(arguments)", input: input)
    }

    @Test func usageErrorsNameTheProblemAndExit64() {
        for (arguments, message) in [
            ("apply --bogus", "unknown option '--bogus'"),
            ("apply --backend nft", "'nft' is not a valid --backend: use auto, nftables, iptables"),
            ("export --config", "--config needs a value"),
            ("export --all=yes", "--all takes no value"),
            ("hook qemu guest prepare", "missing <sub-operation>"),
            ("flush extra", "unexpected argument 'extra'"),
            ("frobnicate", "unknown subcommand 'frobnicate'"),
        ] {
            let r = run(arguments)
            #expect(r.status == 64, "\(arguments)")
            let lines = r.stderr.split(separator: "\n")
            #expect(lines.first.map(String.init) == "libvirt-portfwd: error: \(message)", "\(arguments)")
            #expect(lines.dropFirst().first?.hasPrefix("Usage: libvirt-portfwd") == true, "\(arguments)")
            #expect(r.stdout.isEmpty)
        }
    }

    @Test func optionsTakeBothSpellingsAndHelpAndVersionWorkEverywhere() {
        dir.write("c.toml", "[[guest]]\nname = \"web1\"\naddress = \"192.168.122.10\"\nforwards = [\"8080:80\"]\n")
        let spaced = run("export --all --backend nftables --config \(dir.path)/c.toml --state-dir \(dir.path)/s")
        let joined = run("export --all --backend=nftables --config=\(dir.path)/c.toml --state-dir=\(dir.path)/s")
        #expect(spaced.status == 0 && spaced.stdout.contains("tcp . 8080 : 192.168.122.10 . 80,"))
        #expect(joined.stdout == spaced.stdout)
        #expect(run("--version").stdout == "0.1.0\n")
        #expect(run("apply --version").stdout == "0.1.0\n")
        for help in ["--help", "-h", "help", "hook --help", "hook", "help hook qemu", "hook qemu -h"] {
            let r = run(help)
            #expect(r.status == 0 && r.stdout.hasPrefix("OVERVIEW: ") && r.stdout.contains("\nOPTIONS:\n"), "\(help)")
        }
    }

    @Test func afterTheSeparatorEverythingIsAGuestArgument() {
        // A guest named like an option is handled, not taken for --help.
        let xml = "<domain><name>--help</name><uuid>0a0b0c0d-0000-4000-8000-000000000099</uuid></domain>"
        let r = run("hook qemu --config \(dir.path)/none.toml --state-dir \(dir.path)/s -- --help prepare begin -", input: xml)
        #expect(r.status == 0 && r.stdout.isEmpty && r.stderr.isEmpty)
    }
}
