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
        let version = run("--version").stdout
        #expect(version.hasPrefix("libvirt-portfwd 0.2.0 (commit "))
        #expect(version.contains("\nbackends: nftables; iptables (iptables-nft, iptables-legacy)\n"))
        for spelling in ["-V", "apply --version", "status -V", "hook qemu --version"] { #expect(run(spelling).stdout == version, "\(spelling)") }
        for help in ["--help", "-h", "help", "hook --help", "hook", "help hook qemu", "hook qemu -h", "apply -h"] {
            let r = run(help)
            #expect(r.status == 0 && r.stdout.hasPrefix("OVERVIEW: ") && r.stdout.contains("\nOPTIONS:\n"), "\(help)")
        }
    }

    /// Global options before the subcommand, as people type them.
    @Test func globalOptionsGoBeforeOrAfterTheSubcommand() {
        dir.write("c.toml", "[[guest]]\nname = \"web1\"\naddress = \"192.168.122.10\"\nforwards = [\"8080:80\"]\n")
        let after = run("export --all --config \(dir.path)/c.toml --state-dir \(dir.path)/s")
        let before = run("--config \(dir.path)/c.toml --state-dir=\(dir.path)/s export --all")
        #expect(after.status == 0 && before.status == 0 && before.stdout == after.stdout)
        #expect(run("--config \(dir.path)/c.toml check").status == 0)
    }

    @Test func typosGetTheNearestSuggestion() {
        for (arguments, message) in [
            ("stauts", "unknown subcommand 'stauts'; did you mean 'status'?"),
            ("hook qemo", "unknown subcommand 'qemo'; did you mean 'qemu'?"),
            ("apply --al", "unknown option '--al'; did you mean '--all'?"),
            ("export --confg x", "unknown option '--confg'; did you mean '--config'?"),
        ] {
            let r = run(arguments)
            #expect(r.status == 64, "\(arguments)")
            #expect(r.stderr.split(separator: "\n").first.map(String.init) == "libvirt-portfwd: error: \(message)", "\(arguments)")
        }
    }

    /// Commands that need no kernel work for anyone, without stray permission lines; the
    /// others say in one line that they need root.
    @Test func withoutRootOnlyTheCommandsThatNeedItRefuse() throws {
        dir.write("c.toml", "[[guest]]\nname = \"web1\"\naddress = \"192.168.122.10\"\nforwards = [\"8080:80\"]\n")
        try Shell.run("cp \(Paths.binary) \(dir.path)/tool && chmod 755 \(dir.path) \(dir.path)/tool && chmod 644 \(dir.path)/c.toml")
        func asNobody(_ arguments: String) -> Shell.Result {
            Shell.capture("cd / && setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all \(dir.path)/tool \(arguments) --config \(dir.path)/c.toml --state-dir \(dir.path)/nobody")
        }
        for ok in ["check", "export --all", "export --all --backend iptables", "--help"] {
            let r = asNobody(ok)
            #expect(r.status == 0 && r.stderr.isEmpty, "\(ok): \(r.stderr)")
        }
        for (command, name) in [("apply", "apply"), ("flush", "flush"), ("status", "status"), ("check --kernel", "check --kernel"), ("install-hook", "install-hook")] {
            let r = asNobody(command)
            #expect(r.status == 77, "\(command)")
            #expect(r.stderr.hasPrefix("libvirt-portfwd: \(name) needs root") && r.stderr.split(separator: "\n").count == 1, "\(command): \(r.stderr)")
        }
    }

    @Test func afterTheSeparatorEverythingIsAGuestArgument() {
        // A guest named like an option is handled, not taken for --help.
        let xml = "<domain><name>--help</name><uuid>0a0b0c0d-0000-4000-8000-000000000099</uuid></domain>"
        let r = run("hook qemu --config \(dir.path)/none.toml --state-dir \(dir.path)/s -- --help prepare begin -", input: xml)
        #expect(r.status == 0 && r.stdout.isEmpty && r.stderr.isEmpty)
    }
}
